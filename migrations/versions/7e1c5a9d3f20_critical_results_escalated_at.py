"""critical results: escalated_at (escalation past CRITICAL_ACK_MINUTES)

Revision ID: 7e1c5a9d3f20
Revises: b7c3e1f9a2d4
Create Date: 2026-12-07 02:55:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.db_types


# revision identifiers, used by Alembic.
revision = '7e1c5a9d3f20'
down_revision = 'b7c3e1f9a2d4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('critical_results', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalated_at', webapp.db_types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('critical_results', schema=None) as batch_op:
        batch_op.drop_column('escalated_at')
