"""multi room reservations: a rooms count on each reservation (one code for several rooms)

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import models.base  # noqa: F401

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # existing reservations are one room each: the server default fills them
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rooms', sa.Integer(), server_default='1', nullable=False))
        batch_op.create_check_constraint(op.f('ck_reservations_room_count'), 'rooms >= 1 AND rooms <= adults')


def downgrade() -> None:
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_reservations_room_count'), type_='check')
        batch_op.drop_column('rooms')
