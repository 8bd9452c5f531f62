"""A small WebDriver BiDi client over aiohttp WebSockets: start headless Firefox with a fresh
profile, open a page, evaluate JavaScript. Only what the Firefox call test needs.

Firefox's remote agent speaks BiDi at ws://127.0.0.1:<port>/session; the prefs written to the
profile's user.js give it a fake microphone with no permission prompt and stop the background
traffic (updates, telemetry, safe browsing) a test must not make.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

PREFS: dict[str, bool | int | str] = {
    # a fake microphone (a tone) and no permission prompt
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.autoplay.default": 0,
    # with the prompt switched off no permission is "granted", so Firefox hides its host addresses
    # behind mDNS names (<uuid>.local) that nothing resolves here and ICE fails; a guest who allows
    # the microphone gets real host candidates, which is what this pref gives the test
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    # nothing in the background
    "app.update.enabled": False,
    "app.update.auto": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.archive.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "browser.search.update": False,
    "browser.newtabpage.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "remote.active-protocols": 1,  # WebDriver BiDi only
}


def firefox_path() -> str | None:
    return shutil.which("firefox-esr") or shutil.which("firefox")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_user_js(profile: Path) -> None:
    lines = [f"user_pref({json.dumps(k)}, {json.dumps(v)});" for k, v in PREFS.items()]
    (profile / "user.js").write_text("\n".join(lines) + "\n")


class BidiError(RuntimeError):
    pass


class Session:
    """One BiDi session: commands by id; events are kept (the page's log entries among them)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.context = ""

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        await self.ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = await self.ws.receive(timeout=60)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise BidiError(f"BiDi socket closed: {msg}")
            data = json.loads(msg.data)
            if data.get("type") == "event":
                self.events.append(data)
                continue
            if data.get("id") == msg_id:
                if data.get("type") == "error":
                    raise BidiError(f"{method}: {data.get('error')}: {data.get('message')}")
                return dict(data.get("result", {}))

    async def eval(self, expression: str) -> Any:
        """The value of ``expression`` in the page (promises awaited), as JSON-able data."""
        res = await self.send(
            "script.evaluate", expression=expression, target={"context": self.context},
            awaitPromise=True, userActivation=True,
        )
        if res.get("type") == "exception":
            raise BidiError(f"page error: {res.get('exceptionDetails', {}).get('text')}")
        return deserialize(res.get("result", {}))

    def log_errors(self) -> list[str]:
        """Console errors and uncaught exceptions the page logged (log.entryAdded events)."""
        return [
            str(e["params"].get("text")) for e in self.events
            if e.get("method") == "log.entryAdded" and e["params"].get("level") == "error"
        ]


def deserialize(value: dict[str, Any]) -> Any:
    """A BiDi remote value to Python (primitives only: the test passes structures as JSON text)."""
    kind = value.get("type")
    if kind in ("undefined", "null"):
        return None
    return value.get("value")


@contextlib.asynccontextmanager
async def firefox(profile: Path) -> AsyncIterator[Session]:
    """Headless Firefox on a fresh profile with a BiDi session on its first tab; killed on exit."""
    exe = firefox_path()
    assert exe is not None
    write_user_js(profile)
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        exe, "--headless", "--no-remote", "--profile", str(profile), "--remote-debugging-port", str(port),
        "about:blank", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: the content processes go with it
    )
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(60):
            while True:
                line = (await proc.stderr.readline()).decode(errors="replace")
                if not line:
                    raise BidiError("firefox exited before its BiDi server started")
                if "WebDriver BiDi listening on" in line:
                    break
        drain = asyncio.create_task(_drain(proc.stderr), name="firefox-stderr")
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(
                f"ws://127.0.0.1:{port}/session", max_msg_size=0
            ) as ws:
                session = Session(ws)
                await session.send("session.new", capabilities={"alwaysMatch": {"acceptInsecureCerts": True}})
                tree = await session.send("browsingContext.getTree")
                contexts = tree.get("contexts") or []
                if contexts:
                    session.context = str(contexts[0]["context"])
                else:
                    session.context = str((await session.send("browsingContext.create", type="tab"))["context"])
                await session.send("session.subscribe", events=["log.entryAdded"])
                try:
                    yield session
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(session.send("session.end"), 5)
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
    finally:
        await _stop(proc)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Firefox and every process it started (its process group), whatever state the test left."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # content processes that outlived the parent
    if proc.returncode is None:
        await proc.wait()


async def _drain(stream: asyncio.StreamReader) -> None:
    """Keep reading Firefox's stderr so a full pipe never blocks it."""
    while await stream.readline():
        pass
