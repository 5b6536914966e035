"""pacs_studies: the study's own patient birth date (the second identifier checked at matching)

Revision ID: b7c3e1f9a2d4
Revises: f7b2c3d4e5a6
Create Date: 2026-12-07 02:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7c3e1f9a2d4'
down_revision = 'f7b2c3d4e5a6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('pacs_studies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('patient_birth_date', sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table('pacs_studies', schema=None) as batch_op:
        batch_op.drop_column('patient_birth_date')
