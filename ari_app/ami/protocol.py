"""Asterisk Manager Interface wire format, without I/O.

AMI is a banner line (``Asterisk Call Manager/11.0.0`` on Asterisk 22, see
``records/ami-session.txt``) followed by messages: ``Key: Value`` lines ending in CRLF, a blank line
after each message. The same shape carries our actions and Asterisk's responses and events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

BANNER_PREFIX = "Asterisk Call Manager/"
DEFAULT_MAX_LINE = 16384
DEFAULT_MAX_FIELDS = 500


class AmiError(Exception):
    """Base of every error in :mod:`ari_app.ami`."""


class AmiProtocolError(AmiError):
    """The peer sent something that is not AMI; drop the connection and reconnect later."""


class AmiAuthError(AmiError):
    """Login refused: the credentials are wrong, retrying quickly will not help."""


class AmiConnectionError(AmiError):
    """The connection failed or went silent: transient, reconnect with backoff."""


@dataclass(frozen=True)
class AmiMessage:
    fields: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str = "") -> str:
        low = key.lower()
        for k, v in self.fields:
            if k.lower() == low:
                return v
        return default

    def __contains__(self, key: str) -> bool:
        low = key.lower()
        return any(k.lower() == low for k, _ in self.fields)

    @property
    def event(self) -> str:
        return self.get("Event")

    @property
    def response(self) -> str:
        return self.get("Response")

    @property
    def action_id(self) -> str:
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str]:
        return dict(self.fields)

    @classmethod
    def of(cls, pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> AmiMessage:
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        return cls(tuple((str(k), str(v)) for k, v in items))


def _check(text: str) -> str:
    if "\r" in text or "\n" in text:
        raise AmiError(f"AMI field contains a line break: {text[:40]!r}")
    return text


def serialize(message: AmiMessage) -> bytes:
    """A message as it goes on the wire (``Key: Value\\r\\n``…, then ``\\r\\n``)."""
    return "".join(f"{_check(k)}: {_check(v)}\r\n" for k, v in message.fields).encode() + b"\r\n"


def build_action(action: str, action_id: str, fields: Mapping[str, str] | None = None) -> bytes:
    pairs = [("Action", action), ("ActionID", action_id), *((fields or {}).items())]
    return serialize(AmiMessage.of(pairs))


def parse_field(line: str) -> tuple[str, str]:
    key, sep, value = line.partition(":")
    if not sep or not key or key != key.strip():
        raise AmiProtocolError(f"not an AMI 'Key: Value' line: {line[:80]!r}")
    return key, value[1:] if value.startswith(" ") else value


class AmiParser:
    """Bytes in, messages out. ``expect_banner=False`` for the server side (tests, stand-ins)."""

    def __init__(
        self, *, expect_banner: bool = True, max_line: int = DEFAULT_MAX_LINE, max_fields: int = DEFAULT_MAX_FIELDS
    ) -> None:
        self.banner: str | None = None
        self._want_banner = expect_banner
        self._buf = bytearray()
        self._fields: list[tuple[str, str]] = []
        self.max_line = max_line
        self.max_fields = max_fields

    def feed(self, data: bytes) -> list[AmiMessage]:
        self._buf += data
        out: list[AmiMessage] = []
        while True:
            idx = self._buf.find(b"\n")
            if idx < 0:
                if len(self._buf) > self.max_line:
                    raise AmiProtocolError(f"AMI line longer than {self.max_line} bytes")
                return out
            raw = bytes(self._buf[:idx]).rstrip(b"\r")
            del self._buf[: idx + 1]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("latin-1")  # caller names in odd encodings must not drop the link
            if self._want_banner:
                if not line.startswith(BANNER_PREFIX):
                    raise AmiProtocolError(f"not an AMI banner: {line[:80]!r}")
                self.banner = line
                self._want_banner = False
                continue
            if line == "":
                if self._fields:
                    out.append(AmiMessage(tuple(self._fields)))
                    self._fields = []
                continue
            if len(self._fields) >= self.max_fields:
                raise AmiProtocolError(f"AMI message with more than {self.max_fields} fields")
            self._fields.append(parse_field(line))
