"""station_downtimes.withdrawn_at / withdrawn_by: a downtime ended early or withdrawn by hand

Revision ID: d9e4b6c1a7f3
Revises: c4d8e2a7f1b3
Create Date: 2026-12-07 06:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

import webapp.db_types


# revision identifiers, used by Alembic.
revision = 'd9e4b6c1a7f3'
down_revision = 'c4d8e2a7f1b3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('station_downtimes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn_at', webapp.db_types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_by', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_station_downtimes_withdrawn_by_users'), 'users',
                                    ['withdrawn_by'], ['id'])


def downgrade():
    with op.batch_alter_table('station_downtimes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_station_downtimes_withdrawn_by_users'), type_='foreignkey')
        batch_op.drop_column('withdrawn_by')
        batch_op.drop_column('withdrawn_at')
