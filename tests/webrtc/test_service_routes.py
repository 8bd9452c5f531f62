"""The service as `serve` builds it serves the call page and its token without the API token (the
page and socket carry their own call token), while the API stays protected."""

from __future__ import annotations

import sys
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
from e2e_support import running_stack  # noqa: E402


async def test_given_the_service_with_an_api_token_when_a_guest_opens_the_call_page_then_page_and_token_need_none(
    tmp_path: Path,
) -> None:
    env = {"HOTEL_OPERATOR_HTTP__PORT": "0", "HOTEL_OPERATOR_HTTP__API_TOKENS": '["s3cret-api-token-123456"]'}
    async with running_stack(tmp_path, env=env) as stack, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{stack.service.http_port}"
        async with http.get(base + "/voice/call") as resp:
            page = await resp.text()
            assert resp.status == 200 and 'id="call"' in page and 'src="call.js"' in page
            assert "connect-src 'self' ws: wss:" in resp.headers["Content-Security-Policy"]
        async with http.get(base + "/voice/call.js") as resp:
            assert resp.status == 200 and "RTCPeerConnection" in await resp.text()
        async with http.post(base + "/voice/call/token") as resp:
            assert resp.status == 200 and (await resp.json())["token"].startswith("v1.")
        async with http.get(base + "/api/calls") as resp:
            assert resp.status == 401
        async with http.get(base + "/metrics", headers={"Authorization": "Bearer s3cret-api-token-123456"}) as resp:
            assert "hotel_webrtc_calls_active" in await resp.text()
