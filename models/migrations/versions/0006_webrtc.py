"""webrtc: voice_calls.channel (phone | webrtc), so browser calls are told apart from phone calls

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base  # noqa: F401

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("voice_calls") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=16), nullable=False, server_default="phone"))


def downgrade() -> None:
    with op.batch_alter_table("voice_calls") as batch:
        batch.drop_column("channel")
