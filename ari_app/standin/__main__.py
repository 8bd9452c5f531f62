"""Run the Asterisk stand-in on its own: ``python -m ari_app.standin [--port 8088] [--rtp-file F]``.

Point the service at it (``asterisk.ari_url = http://127.0.0.1:8088``, user ``hotel``, password
``hotel-secret``) and place calls through its control endpoints::

    curl -XPOST localhost:8088/_standin/calls -d '{"caller_number": "+15551234567", "did": "100"}'
    curl -XPOST 'localhost:8088/_standin/calls/<channel_id>/dtmf?digits=1#'
    curl -XDELETE localhost:8088/_standin/calls/<channel_id>
    curl localhost:8088/_standin/state
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from ari_app.standin.server import AsteriskStandin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ari_app.standin", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--user", default="hotel")
    parser.add_argument("--password", default="hotel-secret")
    parser.add_argument("--api-docs", type=Path, default=None, help="Asterisk's ARI api-docs folder")
    parser.add_argument("--rtp-file", type=Path, default=None, help="caller audio: .ulaw or 8 kHz WAV")
    parser.add_argument("--stasis-delay-ms", type=float, default=13.0, help="the externalMedia race (ms)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        standin = AsteriskStandin(
            host=args.host,
            port=args.port,
            user=args.user,
            password=args.password,
            api_docs=args.api_docs,
            rtp_source=args.rtp_file,
            stasis_start_delay_s=args.stasis_delay_ms / 1000,
        )
        await standin.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        print(f"Asterisk stand-in on {standin.base_url} (ARI user {args.user}); Ctrl-C stops it", flush=True)
        try:
            await stop.wait()
        finally:
            await standin.stop()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
