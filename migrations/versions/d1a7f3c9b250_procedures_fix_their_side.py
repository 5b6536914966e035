"""procedures that fix their side (bilateral mammography)

Revision ID: d1a7f3c9b250
Revises: a3c9e41b7d52
Create Date: 2026-11-29 23:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd1a7f3c9b250'
down_revision = 'a3c9e41b7d52'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('imaging_procedures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fixed_laterality', sa.String(length=16), nullable=True))
    # The catalogue's bilateral mammographies (webapp.imaging.reference.FIXED_LATERALITY).
    op.execute("UPDATE imaging_procedures SET fixed_laterality = 'bilateral' WHERE code IN ('77066', '77067')")


def downgrade():
    with op.batch_alter_table('imaging_procedures', schema=None) as batch_op:
        batch_op.drop_column('fixed_laterality')
