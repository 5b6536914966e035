"""imaging_orders.completed_date index: the tablet's "done today" read every order without it

Revision ID: e5a1c9d3b7f2
Revises: a3f9c1d7e2b4
Create Date: 2026-12-07 06:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e5a1c9d3b7f2'
down_revision = 'a3f9c1d7e2b4'
branch_labels = None
depends_on = None


def upgrade():
    # The day's last completed scans (webapp.imaging.day_lists.tablet_done), on every tablet
    # re-fetch: a full scan of the orders without it (bench/README.md, the cost of a page).
    op.create_index('ix_imaging_orders_completed_date', 'imaging_orders', ['completed_date'], unique=False)


def downgrade():
    op.drop_index('ix_imaging_orders_completed_date', table_name='imaging_orders')
