"""The least of the W3C WebDriver protocol a browser test needs, spoken to chromedriver over aiohttp.

(playwright and selenium are not installed here; chromedriver comes with the Debian chromium.)
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1100",
         "--autoplay-policy=no-user-gesture-required"]


def missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists() and shutil.which(Path(path).name) is None:
            return f"{path} is not installed (Debian packages chromium and chromium-driver)"
    return None


class Browser:
    def __init__(self, http: aiohttp.ClientSession, base: str, session_id: str) -> None:
        self.http = http
        self.base = f"{base}/session/{session_id}"

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, self.base + path, json=body) as resp:
            data = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"webdriver {path}: {data}")
        return data["value"]

    async def open(self, url: str) -> None:
        await self._call("POST", "/url", {"url": url})

    async def js(self, script: str, *args: Any) -> Any:
        return await self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    async def wait_for(self, script: str, what: str, timeout_s: float = 15.0) -> Any:
        """Poll ``script`` (a function body returning a value) until it returns something truthy."""
        async with asyncio.timeout(timeout_s):
            while True:
                value = await self.js(script)
                if value:
                    return value
                await asyncio.sleep(0.1)
        raise AssertionError(what)  # pragma: no cover - the timeout raises first

    async def resize(self, width: int, height: int) -> None:
        await self._call("POST", "/window/rect", {"width": width, "height": height})

    async def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(await self._call("GET", "/screenshot")))
        return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Browser]:
    port = _free_port()
    driver = await asyncio.create_subprocess_exec(
        shutil.which("chromedriver") or CHROMEDRIVER, f"--port={port}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            async with asyncio.timeout(20):
                while True:
                    try:
                        async with http.get(f"{base}/status") as resp:
                            if (await resp.json())["value"]["ready"]:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
            caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
                "binary": shutil.which("chromium") or CHROMIUM, "args": [*FLAGS, f"--user-data-dir={profile}"]}}}}
            async with http.post(f"{base}/session", json=caps) as resp:
                created = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"chromedriver refused the session: {created}")
            browser = Browser(http, base, created["value"]["sessionId"])
            try:
                yield browser
            finally:
                async with http.delete(browser.base):
                    pass
    finally:
        driver.terminate()
        await driver.wait()
