"""voice api: call events, outbound calls, do-not-call list, recording audit, sync outbox

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('do_not_call',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=255), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_do_not_call')),
    sa.UniqueConstraint('number', name=op.f('uq_do_not_call_number'))
    )
    op.create_table('outbound_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('session_id', sa.String(length=64), nullable=True),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('error', sa.String(length=255), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_calls')),
    sa.UniqueConstraint('request_id', name=op.f('uq_outbound_calls_request_id'))
    )
    with op.batch_alter_table('outbound_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_calls_number'), ['number'], unique=False)

    op.create_table('recording_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=64), nullable=False),
    sa.Column('who', sa.String(length=64), nullable=False),
    sa.Column('remote', sa.String(length=64), nullable=False),
    sa.Column('byte_range', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_access'))
    )
    with op.batch_alter_table('recording_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_access_session_id'), ['session_id'], unique=False)

    op.create_table('call_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=64), nullable=True),
    sa.Column('outbound_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['outbound_id'], ['outbound_calls.id'], name=op.f('fk_call_events_outbound_id_outbound_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_events'))
    )
    with op.batch_alter_table('call_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_events_outbound_id'), ['outbound_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_events_session_id'), ['session_id'], unique=False)

    op.create_table('sync_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=96), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('locked_by', sa.String(length=64), nullable=True),
    sa.Column('locked_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['voice_calls.id'], name=op.f('fk_sync_outbox_call_id_voice_calls'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_outbox')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_sync_outbox_idempotency_key'))
    )
    with op.batch_alter_table('sync_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_outbox_call_id'), ['call_id'], unique=False)
        batch_op.create_index('ix_sync_outbox_status_next', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sync_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_outbox_status_next')
        batch_op.drop_index(batch_op.f('ix_sync_outbox_call_id'))

    op.drop_table('sync_outbox')
    with op.batch_alter_table('call_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_events_session_id'))
        batch_op.drop_index(batch_op.f('ix_call_events_outbound_id'))

    op.drop_table('call_events')
    with op.batch_alter_table('recording_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recording_access_session_id'))

    op.drop_table('recording_access')
    with op.batch_alter_table('outbound_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_calls_number'))

    op.drop_table('outbound_calls')
    op.drop_table('do_not_call')
