"""patient access sets: a shared live region's patients stored once, named by each viewer's read

Identical live screens share one render of a region (webapp.web.live_cache); each viewer's read
was logged with a row per patient shown (24 tablets × about 170 patients for every event).
Now the region's patients are stored once as a set (``patient_access_sets``, one per distinct
set, found again by its digest, with ``patient_access_set_patients``) and each viewer's
``patient_access_log`` row names it in ``patient_set_id``. Both new tables are append-only
(webapp.audit.guards), like the log itself.

The column is added with a plain ALTER TABLE (SQLite and PostgreSQL), not a batch-mode copy,
which would drop the log's append-only triggers; it has no foreign key, so that SQLite can drop
it again on downgrade (the set is committed before any read names it: webapp.audit.access).

Downgrade: a read that named a set gets the set's patients as its own rows, then the column
and the tables go.

Revision ID: b8e2d4f6a1c3
Revises: e5a1c9d3b7f2
Create Date: 2026-12-07 18:05:00.000000

"""
from alembic import op
import sqlalchemy as sa

from webapp.audit.guards import drop_guards, install_guards
import webapp.db_types


# revision identifiers, used by Alembic.
revision = 'b8e2d4f6a1c3'
down_revision = 'e5a1c9d3b7f2'
branch_labels = None
depends_on = None

LOG = 'patient_access_log'
LOG_PATIENTS = 'patient_access_log_patients'
SETS = 'patient_access_sets'
SET_PATIENTS = 'patient_access_set_patients'


def upgrade():
    op.create_table(SETS,
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('digest', sa.String(length=40), nullable=False),
    sa.Column('created_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_access_sets')),
    sa.UniqueConstraint('digest', name=op.f('uq_patient_access_sets_digest'))
    )
    op.create_table(SET_PATIENTS,
    sa.Column('set_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['set_id'], [f'{SETS}.id'], name=op.f('fk_patient_access_set_patients_set_id_patient_access_sets')),
    sa.PrimaryKeyConstraint('set_id', 'patient_id', name=op.f('pk_patient_access_set_patients'))
    )
    op.create_index('ix_patient_access_set_patients_patient', SET_PATIENTS, ['patient_id', 'set_id'], unique=False)
    op.add_column(LOG, sa.Column('patient_set_id', sa.Integer(), nullable=True))
    op.create_index('ix_patient_access_log_patient_set', LOG, ['patient_set_id', 'id'], unique=False)
    install_guards(op.get_bind(), [SETS, SET_PATIENTS])


def downgrade():
    bind = op.get_bind()
    drop_guards(bind, [LOG, LOG_PATIENTS, SETS, SET_PATIENTS])
    op.execute(f'INSERT INTO {LOG_PATIENTS} (access_id, patient_id) '
               f'SELECT l.id, s.patient_id FROM {LOG} l JOIN {SET_PATIENTS} s ON s.set_id = l.patient_set_id '
               f'WHERE NOT EXISTS (SELECT 1 FROM {LOG_PATIENTS} p WHERE p.access_id = l.id AND p.patient_id = s.patient_id)')
    op.drop_index('ix_patient_access_log_patient_set', table_name=LOG)
    op.execute(f'ALTER TABLE {LOG} DROP COLUMN patient_set_id')
    op.drop_index('ix_patient_access_set_patients_patient', table_name=SET_PATIENTS)
    op.drop_table(SET_PATIENTS)
    op.drop_table(SETS)
    install_guards(bind, [LOG, LOG_PATIENTS])
