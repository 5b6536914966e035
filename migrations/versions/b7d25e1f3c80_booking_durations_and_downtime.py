"""booking: procedure durations and station downtime

Revision ID: b7d25e1f3c80
Revises: 7c1e5a9d2f40
Create Date: 2026-12-07 02:55:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.db_types


# revision identifiers, used by Alembic.
revision = 'b7d25e1f3c80'
down_revision = '7c1e5a9d2f40'
branch_labels = None
depends_on = None

# The defaults per modality (webapp.imaging.durations.MODALITY_MINUTES at the time of writing).
MODALITY_MINUTES = {"XRAY": 10, "US": 20, "MG": 20, "FL": 30, "CT": 20, "MRI": 45}


def upgrade():
    with op.batch_alter_table('imaging_procedures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duration_minutes', sa.Integer(), server_default='15', nullable=False))
    procedures = sa.table('imaging_procedures', sa.column('modality', sa.String), sa.column('duration_minutes', sa.Integer))
    for modality, minutes in MODALITY_MINUTES.items():
        op.execute(procedures.update().where(procedures.c.modality == modality).values(duration_minutes=minutes))

    op.create_table('station_downtimes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('station_ae', sa.String(length=16), nullable=False),
    sa.Column('starts_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_station_downtimes_downtime_ends_after_start')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_station_downtimes_created_by_users')),
    sa.ForeignKeyConstraint(['station_ae'], ['stations.ae_title'], name=op.f('fk_station_downtimes_station_ae_stations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_downtimes'))
    )
    with op.batch_alter_table('station_downtimes', schema=None) as batch_op:
        batch_op.create_index('ix_station_downtimes_station_starts_at', ['station_ae', 'starts_at'], unique=False)


def downgrade():
    with op.batch_alter_table('station_downtimes', schema=None) as batch_op:
        batch_op.drop_index('ix_station_downtimes_station_starts_at')
    op.drop_table('station_downtimes')
    with op.batch_alter_table('imaging_procedures', schema=None) as batch_op:
        batch_op.drop_column('duration_minutes')
