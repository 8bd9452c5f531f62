"""Fixtures of the ARI tests: the Asterisk stand-in, settings pointing at it, a real call store.

Calls run with real RTP endpoints (``ari_app.media.endpoint.RtpEndpoint``) over loopback.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).parent))

from arikit import FIXTURES, make_settings, next_media_settings  # noqa: E402

from ari_app.settings import MediaSettings, Settings  # noqa: E402
from ari_app.standin import AsteriskStandin  # noqa: E402
from models.store import CallStore  # noqa: E402


@pytest.fixture
async def standin() -> AsyncIterator[AsteriskStandin]:
    st = AsteriskStandin(rtp_source=FIXTURES / "basic-rtp-in.ulaw", seed=4)
    await st.start()
    try:
        yield st
    finally:
        await st.stop()


@pytest.fixture
def media_settings() -> MediaSettings:
    return next_media_settings()


@pytest.fixture
def settings(standin: AsteriskStandin, media_settings: MediaSettings) -> Settings:
    return make_settings(standin, media_settings)


@pytest.fixture
def store(sqlite_sessions: async_sessionmaker[AsyncSession]) -> CallStore:
    return CallStore(sqlite_sessions)
