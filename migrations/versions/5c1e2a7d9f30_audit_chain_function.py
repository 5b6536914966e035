"""audit chain: lock, head and new ids in one PostgreSQL function

``order_events_chain_next(n)`` takes the chain's advisory lock, reads the head's hash and
hands out ``n`` ids from the table's sequence, in one round trip (webapp.audit.chain). Nothing
to do on SQLite.

Revision ID: 5c1e2a7d9f30
Revises: bc0b8ced1fd7
Create Date: 2026-11-28 10:40:00.000000

"""
from alembic import op

from webapp.audit.chain import drop_chain_function, install_chain_function


# revision identifiers, used by Alembic.
revision = '5c1e2a7d9f30'
down_revision = 'bc0b8ced1fd7'
branch_labels = None
depends_on = None


def upgrade():
    install_chain_function(op.get_bind())


def downgrade():
    drop_chain_function(op.get_bind())
