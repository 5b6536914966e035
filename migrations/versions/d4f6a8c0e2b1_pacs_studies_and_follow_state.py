"""PACS: the studies Orthanc received (matched to orders or held for review) and the follower's position

Revision ID: d4f6a8c0e2b1
Revises: a3c9e41b7d52
Create Date: 2026-12-02 10:00:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.db_types


# revision identifiers, used by Alembic.
revision = 'd4f6a8c0e2b1'
down_revision = 'a3c9e41b7d52'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pacs_studies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('orthanc_id', sa.String(length=64), nullable=False),
    sa.Column('study_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('accession_number', sa.String(length=64), nullable=True),
    sa.Column('dicom_patient_id', sa.String(length=64), nullable=True),
    sa.Column('patient_name', sa.String(length=200), nullable=True),
    sa.Column('study_date', sa.Date(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('modalities', sa.String(length=64), nullable=False),
    sa.Column('series_count', sa.Integer(), nullable=False),
    sa.Column('instance_count', sa.Integer(), nullable=False),
    sa.Column('series', sa.JSON(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('hold_reason', sa.Text(), nullable=True),
    sa.Column('received_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('matched_at', webapp.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('matched_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['matched_by'], ['users.id'], name=op.f('fk_pacs_studies_matched_by_users')),
    sa.ForeignKeyConstraint(['order_id'], ['imaging_orders.id'], name=op.f('fk_pacs_studies_order_id_imaging_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pacs_studies')),
    sa.UniqueConstraint('orthanc_id', name=op.f('uq_pacs_studies_orthanc_id')),
    sa.UniqueConstraint('order_id', name=op.f('uq_pacs_studies_order_id'))
    )
    with op.batch_alter_table('pacs_studies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pacs_studies_accession_number'), ['accession_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_pacs_studies_study_instance_uid'), ['study_instance_uid'], unique=False)

    op.create_table('pacs_follow_state',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('last_change', sa.Integer(), nullable=False),
    sa.Column('updated_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_pacs_follow_state'))
    )


def downgrade():
    op.drop_table('pacs_follow_state')
    with op.batch_alter_table('pacs_studies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pacs_studies_study_instance_uid'))
        batch_op.drop_index(batch_op.f('ix_pacs_studies_accession_number'))
    op.drop_table('pacs_studies')
