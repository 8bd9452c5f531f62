"""Caller screening lists: numbers that are always blocked or always let through (VIP, staff).

One row per number, keyed by its digits only, because trunks present the same caller as
``+15550100``, ``15550100`` or ``1 555-0100`` depending on the provider; a number is either on the
block list or on the allow list, never both, so a decision can't depend on which row is read first.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class ScreeningKind:
    BLOCK = "block"
    ALLOW = "allow"
    ALL = (BLOCK, ALLOW)


class CallerScreeningEntry(Base):
    __tablename__ = "caller_screening"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number_key: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    number: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
