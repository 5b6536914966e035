"""login throttle counters (per pair, address and account) replace the attempt rows

Revision ID: 3b8e41c7d2a9
Revises: 5c1e2a7d9f30
Create Date: 2026-11-29 22:50:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.db_types


# revision identifiers, used by Alembic.
revision = '3b8e41c7d2a9'
down_revision = '5c1e2a7d9f30'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_throttle',
    sa.Column('scope', sa.String(length=160), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_ends', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('scope', name=op.f('pk_login_throttle'))
    )
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.create_index('ix_login_throttle_window_ends', ['window_ends'], unique=False)

    # The attempt rows only served the old counting (a day's worth at most): nothing to carry over.
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempts_username_key_attempted_at')
        batch_op.drop_index('ix_login_attempts_remote_addr_attempted_at')
    op.drop_table('login_attempts')


def downgrade():
    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('attempted_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('username_key', sa.String(length=64), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts'))
    )
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempts_remote_addr_attempted_at', ['remote_addr', 'attempted_at'], unique=False)
        batch_op.create_index('ix_login_attempts_username_key_attempted_at', ['username_key', 'attempted_at'], unique=False)

    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.drop_index('ix_login_throttle_window_ends')
    op.drop_table('login_throttle')
