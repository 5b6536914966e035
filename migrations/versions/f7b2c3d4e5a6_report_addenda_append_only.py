"""report addenda are append-only (triggers, like the audit tables)

Revision ID: f7b2c3d4e5a6
Revises: e6a1b2c3d4f5
Create Date: 2026-12-07 03:58:00

"""
from alembic import op

from webapp.audit.guards import drop_guards, install_guards


# revision identifiers, used by Alembic.
revision = 'f7b2c3d4e5a6'
down_revision = 'e6a1b2c3d4f5'
branch_labels = None
depends_on = None


def upgrade():
    install_guards(op.get_bind(), ["report_addenda"])


def downgrade():
    drop_guards(op.get_bind(), ["report_addenda"])
