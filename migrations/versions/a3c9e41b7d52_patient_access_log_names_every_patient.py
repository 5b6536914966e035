"""patient access log names every patient a read showed

One access row per request, and a child table ``patient_access_log_patients`` with one row per
patient the request showed (a search or a list page names many). The parent's ``patient_id``
moves into the child table (existing rows keep their patient there); the parent gains
``search``, the q= term of the request. Both tables stay append-only (webapp.audit.guards).

The column is dropped with a plain ALTER TABLE (SQLite 3.35+ and PostgreSQL), not by a
batch-mode copy: that would drop the parent's append-only triggers, and its foreign-key
children would stop a copy-and-rename on SQLite.

Downgrade: a row that named several patients becomes one row per patient (same user, time,
request); a search that found nobody keeps a NULL patient_id, so that column stays nullable.

Revision ID: a3c9e41b7d52
Revises: 3b8e41c7d2a9
Create Date: 2026-11-29 23:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

from webapp.audit.guards import drop_guards, install_guards


# revision identifiers, used by Alembic.
revision = 'a3c9e41b7d52'
down_revision = '3b8e41c7d2a9'
branch_labels = None
depends_on = None

PARENT = 'patient_access_log'
CHILD = 'patient_access_log_patients'
OLD_INDEX = 'ix_patient_access_log_patient_accessed'


def upgrade():
    op.create_table(CHILD,
    sa.Column('access_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['access_id'], [f'{PARENT}.id'], name=op.f('fk_patient_access_log_patients_access_id_patient_access_log')),
    sa.PrimaryKeyConstraint('access_id', 'patient_id', name=op.f('pk_patient_access_log_patients'))
    )
    op.create_index('ix_patient_access_log_patients_patient', CHILD, ['patient_id', 'access_id'], unique=False)
    op.execute(f'INSERT INTO {CHILD} (access_id, patient_id) SELECT id, patient_id FROM {PARENT} '
               'WHERE patient_id IS NOT NULL')  # NULL: a search that found nobody (after a downgrade)
    op.drop_index(OLD_INDEX, table_name=PARENT)
    op.execute(f'ALTER TABLE {PARENT} DROP COLUMN patient_id')
    op.add_column(PARENT, sa.Column('search', sa.String(length=200), nullable=True))
    install_guards(op.get_bind(), [CHILD])


def downgrade():
    bind = op.get_bind()
    drop_guards(bind, [PARENT, CHILD])
    op.add_column(PARENT, sa.Column('patient_id', sa.Uuid(), nullable=True))
    _patients_back_onto_their_rows(bind)
    op.create_index(OLD_INDEX, PARENT, ['patient_id', 'accessed_at'], unique=False)
    op.execute(f'ALTER TABLE {PARENT} DROP COLUMN search')
    op.drop_index('ix_patient_access_log_patients_patient', table_name=CHILD)
    op.drop_table(CHILD)
    install_guards(bind, [PARENT])


def _patients_back_onto_their_rows(bind):
    parent = sa.table(
        PARENT, sa.column('id', sa.Integer()), sa.column('accessed_at', sa.DateTime()),
        sa.column('user_id', sa.Uuid()), sa.column('username', sa.String()), sa.column('user_role', sa.String()),
        sa.column('patient_id', sa.Uuid()), sa.column('what', sa.String()), sa.column('request_path', sa.String()),
        sa.column('remote_addr', sa.String()),
    )
    child = sa.table(CHILD, sa.column('access_id', sa.Integer()), sa.column('patient_id', sa.Uuid()))
    copied = [c for c in parent.c if c.name not in ('id', 'patient_id')]
    rows = bind.execute(sa.select(child.c.access_id, child.c.patient_id)
                        .order_by(child.c.access_id, child.c.patient_id)).all()
    first_seen = set()
    for access_id, patient_id in rows:
        if access_id not in first_seen:
            first_seen.add(access_id)
            bind.execute(parent.update().where(parent.c.id == access_id).values(patient_id=patient_id))
            continue
        bind.execute(parent.insert().from_select(
            [c.name for c in copied] + ['patient_id'],
            sa.select(*copied, sa.literal(patient_id, sa.Uuid())).where(parent.c.id == access_id),
        ))
