"""outbox and HL7 numbers

The transactional outbox (``outbox_messages``: one row per message and receiver, written with
the order change; ``outbox_actions``: admins' retries) and what an EHR calls the orders and
visits it sent over HL7 (``hl7_placer_orders``, ``hl7_visit_numbers``). New tables only.

Revision ID: 5b31b2a9199b
Revises: d4f6a8c0e2b1
Create Date: 2026-11-29 22:55:32.402364

"""
from alembic import op
import sqlalchemy as sa

import webapp.db_types


# revision identifiers, used by Alembic.
revision = '5b31b2a9199b'
down_revision = 'd4f6a8c0e2b1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('hl7_visit_numbers',
    sa.Column('visit_number', sa.String(length=64), nullable=False),
    sa.Column('visit_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_hl7_visit_numbers_visit_id_visits')),
    sa.PrimaryKeyConstraint('visit_number', name=op.f('pk_hl7_visit_numbers')),
    sa.UniqueConstraint('visit_id', name=op.f('uq_hl7_visit_numbers_visit_id'))
    )
    op.create_table('hl7_placer_orders',
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('placer_number', sa.String(length=64), nullable=False),
    sa.Column('sending_application', sa.String(length=64), nullable=False),
    sa.Column('created_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['imaging_orders.id'], name=op.f('fk_hl7_placer_orders_order_id_imaging_orders')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_hl7_placer_orders')),
    sa.UniqueConstraint('placer_number', name=op.f('uq_hl7_placer_orders_placer_number'))
    )
    op.create_table('outbox_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('destination', sa.String(length=255), nullable=False),
    sa.Column('event_type', sa.String(length=24), nullable=False),
    sa.Column('order_version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', webapp.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', webapp.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'failed', 'dead', 'sent')", name=op.f('ck_outbox_messages_state_valid')),
    sa.ForeignKeyConstraint(['order_id'], ['imaging_orders.id'], name=op.f('fk_outbox_messages_order_id_imaging_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_messages_order_destination', ['order_id', 'destination', 'id'], unique=False)
        batch_op.create_index('ix_outbox_messages_state', ['state'], unique=False)
        batch_op.create_index('ix_outbox_messages_unsent', ['next_attempt_at', 'id'], unique=False, postgresql_where=sa.text("state <> 'sent'"), sqlite_where=sa.text("state <> 'sent'"))

    op.create_table('outbox_actions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('actor_label', sa.String(length=128), nullable=False),
    sa.Column('created_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('previous_state', sa.String(length=8), nullable=False),
    sa.Column('previous_error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_outbox_actions_actor_id_users')),
    sa.ForeignKeyConstraint(['message_id'], ['outbox_messages.id'], name=op.f('fk_outbox_actions_message_id_outbox_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_actions'))
    )
    with op.batch_alter_table('outbox_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_actions_message_id'), ['message_id'], unique=False)



def downgrade():
    with op.batch_alter_table('outbox_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_actions_message_id'))

    op.drop_table('outbox_actions')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_unsent', postgresql_where=sa.text("state <> 'sent'"), sqlite_where=sa.text("state <> 'sent'"))
        batch_op.drop_index('ix_outbox_messages_state')
        batch_op.drop_index('ix_outbox_messages_order_destination')

    op.drop_table('outbox_messages')
    op.drop_table('hl7_placer_orders')
    op.drop_table('hl7_visit_numbers')
