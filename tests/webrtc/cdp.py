"""A small Chrome DevTools Protocol client over aiohttp WebSockets: start headless Chromium, open a
page, evaluate JavaScript. Only what the browser-call test needs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = "/usr/bin/chromium"


def chromium_path() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        await self.ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = await self.ws.receive(timeout=60)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"DevTools socket closed: {msg}")
            data = json.loads(msg.data)
            if data.get("id") == msg_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return dict(data.get("result", {}))

    async def eval(self, expression: str) -> Any:
        res = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True,
                              returnByValue=True, userGesture=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"page error: {res['exceptionDetails']}")
        return res.get("result", {}).get("value")


@contextlib.asynccontextmanager
async def chromium(profile: Path, extra_flags: list[str]) -> AsyncIterator[tuple[aiohttp.ClientSession, int]]:
    exe = chromium_path()
    assert exe is not None
    flags = [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
        "--remote-debugging-port=0", "--autoplay-policy=no-user-gesture-required", *extra_flags, "about:blank",
    ]
    proc = await asyncio.create_subprocess_exec(
        exe, *flags, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        port_file = profile / "DevToolsActivePort"
        async with asyncio.timeout(30):
            while not port_file.exists() or not port_file.read_text().strip():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as http:
            yield http, port
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@contextlib.asynccontextmanager
async def open_page(http: aiohttp.ClientSession, port: int, url: str) -> AsyncIterator[Page]:
    async with http.put(f"http://127.0.0.1:{port}/json/new?{url}") as resp:
        target = await resp.json()
    async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
        yield Page(ws)
