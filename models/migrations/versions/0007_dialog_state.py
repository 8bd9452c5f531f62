"""dialog state: the brain's state of each live call, so a re-adopted call goes on where it was

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'call_dialog_states',
        sa.Column('call_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('brain', sa.String(length=16), nullable=False),
        sa.Column('snapshot', sa.Text(), nullable=False),
        sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['call_id'], ['voice_calls.id'],
            name=op.f('fk_call_dialog_states_call_id_voice_calls'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('call_id', name=op.f('pk_call_dialog_states')),
    )


def downgrade() -> None:
    op.drop_table('call_dialog_states')
