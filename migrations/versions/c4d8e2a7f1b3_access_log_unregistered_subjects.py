"""patient_access_log.subjects: people shown who are no registered patient (a PACS study's Patient ID and name)

Revision ID: c4d8e2a7f1b3
Revises: c7d3a91e5f02
Create Date: 2026-12-07 04:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4d8e2a7f1b3'
down_revision = 'c7d3a91e5f02'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('patient_access_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subjects', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('patient_access_log', schema=None) as batch_op:
        batch_op.drop_column('subjects')
