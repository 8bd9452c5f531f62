"""The Asterisk stand-in: ARI REST + events WebSocket + externalMedia RTP, as Asterisk 22 behaves.

Used by the tests and by the demo (``python -m ari_app.standin``) to try the operator without a PBX.
"""

from ari_app.standin.apispec import ApiSpec, SpecError, default_api_docs_dir
from ari_app.standin.rtp import RtpLeg, load_ulaw_source
from ari_app.standin.server import AsteriskStandin, EmittedEvent, RequestRecord

__all__ = [
    "ApiSpec",
    "AsteriskStandin",
    "EmittedEvent",
    "RequestRecord",
    "RtpLeg",
    "SpecError",
    "default_api_docs_dir",
    "load_ulaw_source",
]
