"""caller screening: block and allow lists (ops work)

Revision ID: 0004
Revises: 0003
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'caller_screening',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('number_key', sa.String(length=32), nullable=False),
        sa.Column('number', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('note', sa.String(length=255), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_caller_screening')),
    )
    with op.batch_alter_table('caller_screening', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_caller_screening_number_key'), ['number_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('caller_screening', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_caller_screening_number_key'))
    op.drop_table('caller_screening')
