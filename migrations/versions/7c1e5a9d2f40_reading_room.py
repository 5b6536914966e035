"""reading room: draft versions, claims, trainees, co-sign, peer review, MRRT templates

Revision ID: 7c1e5a9d2f40
Revises: 7e1c5a9d3f20
Create Date: 2026-12-07 03:10:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.db_types


revision = '7c1e5a9d2f40'
down_revision = '7e1c5a9d3f20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('report_drafts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('editor_token', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('field_values', sa.JSON(), nullable=True))

    with op.batch_alter_table('report_templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identifier', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('structure', sa.JSON(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_report_templates_identifier'), ['identifier'])

    op.create_table('trainees',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('since', webapp.db_types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_trainees_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_trainees'))
    )

    with op.batch_alter_table('report_details', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preliminary_by', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('preliminary_at', webapp.db_types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('preliminary_impression', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('cosigned_by', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('cosigned_at', webapp.db_types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('impression_changed', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('field_values', sa.JSON(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_report_details_preliminary_by_users'), 'users', ['preliminary_by'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_report_details_cosigned_by_users'), 'users', ['cosigned_by'], ['id'])

    op.create_table('report_claims',
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('claimed_at', webapp.db_types.UTCDateTime(), nullable=False),
    sa.Column('last_active_at', webapp.db_types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['imaging_orders.id'], name=op.f('fk_report_claims_order_id_imaging_orders')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_report_claims_user_id_users')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_report_claims'))
    )

    op.create_table('peer_reviews',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('reader_id', sa.Uuid(), nullable=False),
    sa.Column('reviewer_id', sa.Uuid(), nullable=False),
    sa.Column('modality', sa.String(length=10), nullable=False),
    sa.Column('score', sa.String(length=2), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', webapp.db_types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['imaging_orders.id'], name=op.f('fk_peer_reviews_order_id_imaging_orders')),
    sa.ForeignKeyConstraint(['reader_id'], ['users.id'], name=op.f('fk_peer_reviews_reader_id_users')),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_peer_reviews_reviewer_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_peer_reviews')),
    sa.UniqueConstraint('order_id', name=op.f('uq_peer_reviews_order_id'))
    )
    with op.batch_alter_table('peer_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_peer_reviews_reader_id'), ['reader_id'], unique=False)


def downgrade():
    op.drop_table('peer_reviews')
    op.drop_table('report_claims')
    with op.batch_alter_table('report_details', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_report_details_cosigned_by_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_report_details_preliminary_by_users'), type_='foreignkey')
        for column in ('field_values', 'impression_changed', 'cosigned_at', 'cosigned_by', 'preliminary_impression',
                       'preliminary_at', 'preliminary_by'):
            batch_op.drop_column(column)
    op.drop_table('trainees')
    with op.batch_alter_table('report_templates', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_report_templates_identifier'), type_='unique')
        batch_op.drop_column('structure')
        batch_op.drop_column('identifier')
    with op.batch_alter_table('report_drafts', schema=None) as batch_op:
        batch_op.drop_column('field_values')
        batch_op.drop_column('editor_token')
        batch_op.drop_column('version')
