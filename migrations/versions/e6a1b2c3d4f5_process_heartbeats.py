"""process heartbeats of the background commands

Revision ID: e6a1b2c3d4f5
Revises: 7c2e5a9d41f3
Create Date: 2026-12-07 03:40:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.db_types


# revision identifiers, used by Alembic.
revision = 'e6a1b2c3d4f5'
down_revision = '7c2e5a9d41f3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('process_heartbeats',
    sa.Column('instance', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('started_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('beat_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('instance', name=op.f('pk_process_heartbeats'))
    )
    with op.batch_alter_table('process_heartbeats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_heartbeats_role'), ['role'], unique=False)


def downgrade():
    with op.batch_alter_table('process_heartbeats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_heartbeats_role'))
    op.drop_table('process_heartbeats')
