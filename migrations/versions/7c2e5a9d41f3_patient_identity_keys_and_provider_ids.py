"""patient identity: MRN issuer, case-blind MRN key, folded search key, merges; provider ids

Patients gain ``mrn_issuer`` (PID-3.4 as the EHR sent it; null: ours), ``mrn_key`` (the MRN as
compared, any case: unique), ``search_key`` (family name, given name and MRN folded by
webapp.patients.identity.fold: indexed, what the one search matches) and ``merged_into_id``
(ADT^A40). Users gain ``provider_id`` (an NPI or the EHR's provider number: ORC-12, PV1-7/8).

The upgrade fills the keys of every patient and stores the names NFC. MRNs that differ only in
case are two records of one patient: the upgrade stops and names them (merge them first).

Revision ID: 7c2e5a9d41f3
Revises: 4a4ff1d6d58d
Create Date: 2026-12-07 03:00:00
"""
import sqlalchemy as sa
from alembic import op

from webapp.patients.identity import mrn_key, nfc
from webapp.patients.models import search_key

# revision identifiers, used by Alembic.
revision = '7c2e5a9d41f3'
down_revision = '4a4ff1d6d58d'
branch_labels = None
depends_on = None

PATIENTS = sa.table(
    'patients', sa.column('id', sa.Uuid), sa.column('mrn', sa.String), sa.column('first_name', sa.String),
    sa.column('last_name', sa.String), sa.column('mrn_key', sa.String), sa.column('search_key', sa.String),
)


def upgrade():
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mrn_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('mrn_issuer', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('search_key', sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_patients_merged_into_id_patients'), 'patients',
                                    ['merged_into_id'], ['id'])

    bind = op.get_bind()
    rows = bind.execute(sa.select(PATIENTS.c.id, PATIENTS.c.mrn, PATIENTS.c.first_name, PATIENTS.c.last_name)).all()
    seen: dict[str, str] = {}
    clashes = []
    for row in rows:
        key = mrn_key(row.mrn)
        if key in seen:
            clashes.append(f"{seen[key]} / {row.mrn}")
        seen[key] = row.mrn
    if clashes:
        raise RuntimeError("MRNs that differ only in case name one patient twice; merge these first: "
                           + ", ".join(clashes))
    for row in rows:
        first, last = nfc(row.first_name), nfc(row.last_name)
        bind.execute(PATIENTS.update().where(PATIENTS.c.id == row.id).values(
            first_name=first, last_name=last, mrn_key=mrn_key(row.mrn), search_key=search_key(last, first, row.mrn)))

    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.alter_column('mrn_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('search_key', existing_type=sa.String(length=400), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_patients_mrn_key'), ['mrn_key'])
        batch_op.create_index(batch_op.f('ix_patients_search_key'), ['search_key'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider_id', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_users_provider_id'), ['provider_id'])


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_provider_id'), type_='unique')
        batch_op.drop_column('provider_id')

    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patients_search_key'))
        batch_op.drop_constraint(batch_op.f('uq_patients_mrn_key'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_patients_merged_into_id_patients'), type_='foreignkey')
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('search_key')
        batch_op.drop_column('mrn_issuer')
        batch_op.drop_column('mrn_key')
