"""`config check`'s reachability lines against a running ARI stand-in and a small AMI server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ari_app.ami.protocol import AmiMessage, AmiParser, serialize
from ari_app.preflight import ami_reachability, ari_reachability, config_report
from ari_app.settings import Settings, load_settings
from ari_app.standin.server import AsteriskStandin

BANNER = b"Asterisk Call Manager/11.0.0\r\n"  # as the records show for Asterisk 22


@pytest.fixture
async def ami_port() -> AsyncIterator[int]:
    """Answers Login with Success for user hotel-monitor / Ami-Check-Pass-1, else Error."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        parser = AmiParser(expect_banner=False)
        while data := await reader.read(4096):
            for msg in parser.feed(data):
                if msg.get("Action") == "Login":
                    ok = msg.get("Username") == "hotel-monitor" and msg.get("Secret") == "Ami-Check-Pass-1"
                    reply = [("Response", "Success" if ok else "Error"), ("ActionID", msg.action_id),
                             ("Message", "Authentication accepted" if ok else "Authentication failed")]
                    writer.write(serialize(AmiMessage(tuple(reply))))
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings(None, env={"HOTEL_OPERATOR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", **env})


async def test_given_a_running_asterisk_when_checked_then_ari_answers_and_a_wrong_password_is_a_warning(
    tmp_path: Path,
) -> None:
    async with AsteriskStandin(user="hotel", password="Ari-Check-Pass-1") as standin:
        good = _settings(tmp_path, HOTEL_OPERATOR_ASTERISK__ARI_URL=standin.base_url,
                         HOTEL_OPERATOR_ASTERISK__ARI_PASSWORD="Ari-Check-Pass-1")
        [found] = await ari_reachability(good)
        assert found.level == "ok" and "answers (Asterisk 22" in found.text, found
        bad = _settings(tmp_path, HOTEL_OPERATOR_ASTERISK__ARI_URL=standin.base_url,
                        HOTEL_OPERATOR_ASTERISK__ARI_PASSWORD="Not-The-Password-2")
        [refused] = await ari_reachability(bad)
        assert refused.level == "warn" and "HTTP 401" in refused.text


async def test_given_an_ami_port_when_checked_then_login_success_and_refusal_are_told_apart(
    tmp_path: Path, ami_port: int
) -> None:
    env = {"HOTEL_OPERATOR_ASTERISK__AMI_PORT": str(ami_port)}
    [ok] = await ami_reachability(_settings(tmp_path, HOTEL_OPERATOR_ASTERISK__AMI_PASSWORD="Ami-Check-Pass-1", **env))
    assert ok.level == "ok" and "accepts asterisk.ami_user" in ok.text and "Call Manager/11.0.0" in ok.text
    [no] = await ami_reachability(_settings(tmp_path, HOTEL_OPERATOR_ASTERISK__AMI_PASSWORD="Wrong-Ami-Pass-3", **env))
    assert no.level == "warn" and "Authentication failed" in no.text


async def test_given_a_migrated_database_and_a_live_asterisk_when_reported_then_nothing_is_a_warning(
    tmp_path: Path, ami_port: int
) -> None:
    from models.migrate import upgrade

    async with AsteriskStandin(user="hotel", password="Ari-Check-Pass-1") as standin:
        settings = _settings(
            tmp_path,
            HOTEL_OPERATOR_ASTERISK__ARI_URL=standin.base_url,
            HOTEL_OPERATOR_ASTERISK__ARI_PASSWORD="Ari-Check-Pass-1",
            HOTEL_OPERATOR_ASTERISK__AMI_PORT=str(ami_port),
            HOTEL_OPERATOR_ASTERISK__AMI_PASSWORD="Ami-Check-Pass-1",
            HOTEL_OPERATOR_SPEECH__PROMPT_CACHE_DIR=str(tmp_path / "prompts"),
        )
        await asyncio.to_thread(upgrade, settings.database.url)
        found = await config_report(settings)
    assert [f for f in found if f.level == "warn"] == []
    assert any(f.text == "database schema is up to date" for f in found)
