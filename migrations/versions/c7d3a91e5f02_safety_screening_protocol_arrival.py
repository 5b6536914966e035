"""safety screening: patients' safety records and their trail, contrast, alerts, clearance,
protocol and arrival on orders, contrast and protocols on procedures

Revision ID: c7d3a91e5f02
Revises: b7d25e1f3c80
Create Date: 2026-12-07 03:00:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.db_types
from webapp.audit.guards import drop_guards, install_guards


# revision identifiers, used by Alembic.
revision = 'c7d3a91e5f02'
down_revision = 'b7d25e1f3c80'
branch_labels = None
depends_on = None

ORDER_COLUMNS = (
    'contrast', 'safety_alerts', 'safety_cleared_codes', 'safety_cleared_by', 'safety_cleared_at',
    'safety_override_reason', 'protocol_required', 'protocol', 'protocol_notes', 'protocoled_by',
    'protocoled_at', 'arrived_at',
)


CONTRAST_CHECK = "contrast IN ('none', 'iodinated', 'gadolinium')"


def upgrade():
    op.create_table('patient_safety',
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('allergies', sa.JSON(), nullable=False),
    sa.Column('egfr_value', sa.Float(), nullable=True),
    sa.Column('egfr_measured_on', sa.Date(), nullable=True),
    sa.Column('pregnancy', sa.String(length=10), nullable=True),
    sa.Column('pregnancy_asked_on', sa.Date(), nullable=True),
    sa.Column('implants', sa.JSON(), nullable=False),
    sa.Column('on_metformin', sa.Boolean(), nullable=False),
    sa.Column('weight_kg', sa.Float(), nullable=True),
    sa.Column('diabetes', sa.Boolean(), nullable=False),
    sa.Column('renal_disease', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_label', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_safety_patient_id_patients')),
    sa.PrimaryKeyConstraint('patient_id', name=op.f('pk_patient_safety'))
    )
    op.create_table('safety_record_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('actor_label', sa.String(length=128), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=True),
    sa.Column('created_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_safety_record_changes_actor_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_safety_record_changes_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_safety_record_changes'))
    )
    with op.batch_alter_table('safety_record_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_safety_record_changes_patient_id'), ['patient_id'], unique=False)
    install_guards(op.get_bind(), ['safety_record_changes'])

    # Columns added in place: no copy of imaging_orders (on SQLite a copy would drop its triggers and
    # trip the foreign keys of the rows that reference it).
    op.add_column('imaging_procedures', sa.Column('contrast', sa.String(length=12), server_default='none', nullable=False))
    op.add_column('imaging_procedures', sa.Column('protocol_required', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('imaging_procedures', sa.Column('protocols', sa.JSON(), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("ALTER TABLE imaging_orders ADD COLUMN contrast VARCHAR(12) DEFAULT 'none' NOT NULL "
                   f"CONSTRAINT ck_imaging_orders_contrast_valid CHECK ({CONTRAST_CHECK})")
    else:
        op.add_column('imaging_orders', sa.Column('contrast', sa.String(length=12), server_default='none', nullable=False))
        op.create_check_constraint('contrast_valid', 'imaging_orders', CONTRAST_CHECK)
    for column in (
        sa.Column('safety_alerts', sa.JSON(), nullable=True),
        sa.Column('safety_cleared_codes', sa.JSON(), nullable=True),
        sa.Column('safety_cleared_by', sa.Uuid(), nullable=True),
        sa.Column('safety_cleared_at', webapp.db_types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('safety_override_reason', sa.Text(), nullable=True),
        sa.Column('protocol_required', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('protocol', sa.String(length=200), nullable=True),
        sa.Column('protocol_notes', sa.Text(), nullable=True),
        sa.Column('protocoled_by', sa.Uuid(), nullable=True),
        sa.Column('protocoled_at', webapp.db_types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('arrived_at', webapp.db_types.UTCDateTime(timezone=True), nullable=True),
    ):
        op.add_column('imaging_orders', column)


def downgrade():
    # Dropped in place too (SQLite 3.35+ drops a column with its own CHECK).
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('ck_imaging_orders_contrast_valid'), 'imaging_orders', type_='check')
    for name in reversed(ORDER_COLUMNS):
        op.drop_column('imaging_orders', name)
    for name in ('protocols', 'protocol_required', 'contrast'):
        op.drop_column('imaging_procedures', name)
    drop_guards(op.get_bind(), ['safety_record_changes'])
    with op.batch_alter_table('safety_record_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_safety_record_changes_patient_id'))
    op.drop_table('safety_record_changes')
    op.drop_table('patient_safety')
