"""outbox_messages.sending_since: a claimed message being sent is not taken over on a stale heartbeat

Revision ID: a3f9c1d7e2b4
Revises: d9e4b6c1a7f3
Create Date: 2026-12-07 06:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

import webapp.db_types

# revision identifiers, used by Alembic.
revision = 'a3f9c1d7e2b4'
down_revision = 'd9e4b6c1a7f3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sending_since', webapp.db_types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('sending_since')
