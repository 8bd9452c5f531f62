"""FastAGI wire protocol, without I/O: bytes in, typed values out; commands out as bytes.

What Asterisk 22 does (``../shared/asterisk/records/fastagi-session.txt``): on connect it sends the
``agi_*`` environment (22 ``key: value`` lines without arguments) and one blank line; then every
command we write gets one reply line ``200 result=<r> [(<data>)] [key=value ...]``. Errors are
``510`` (unknown command), ``511`` (dead channel) and ``520`` (usage; several lines ending with
``520 End of proper usage.``). When the channel hangs up Asterisk writes a bare ``HANGUP`` line,
also after the script itself sent ``HANGUP``, and then leaves the socket open: we close it.

:class:`AgiConnection` is the per-connection state machine (h11 style): feed it bytes with
``receive_data``, take events from ``next_event``, and let it build commands with ``send_command``.
The transport around it only moves bytes and handles timeouts.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

ENV_LINES_WITHOUT_ARGS = 22
DEFAULT_MAX_LINE = 8192
DEFAULT_MAX_ENV_LINES = 200
DEFAULT_MAX_USAGE_LINES = 100  # Asterisk's longest usage text (e.g. GET OPTION, SET MUSIC) is ~25 lines
DEFAULT_MAX_USAGE_BYTES = 16 * 1024
_KEY = re.compile(r"agi_[a-z0-9_]+")
_REPLY = re.compile(r"(?P<code>\d{3}) result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?P<extra>(?: [A-Za-z_]+=\S*)*)")


class AgiError(Exception):
    """Base of every error in :mod:`agi`."""


class AgiProtocolError(AgiError):
    """The peer sent something that is not AGI (their fault; the connection is closed, never retried)."""


class AgiLimitError(AgiProtocolError):
    """A line or the environment block was longer than we accept."""


class AgiUsageError(AgiError):
    """We built a command Asterisk (or our builder) refuses: a bug on our side, a retry can't help."""


class AgiHangup(AgiError):
    """The channel is gone (``HANGUP`` line, ``511``, or ``result=-1``); stop acting on it."""


class AgiSoundMissing(AgiError):
    """``STREAM FILE`` answered ``result=-1`` while the channel is still up: Asterisk could not open
    the sound (not installed in that language). A hang-up also gives -1; that one is ``AgiHangup``."""

    def __init__(self, sound: str) -> None:
        super().__init__(f"sound {sound!r} could not be played (missing on Asterisk?)")
        self.sound = sound


class AgiCommandFailed(AgiError):
    """Asterisk answered a command with an error status (``510``, ``520``)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"AGI command failed: {reply.code} {reply.text}".rstrip())
        self.reply = reply


# ----------------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class AgiEnvironment:
    """The ``agi_*`` block, in the order received (order matters for a byte-exact round trip)."""

    items: tuple[tuple[str, str], ...]

    def __getitem__(self, key: str) -> str:
        for k, v in self.items:
            if k == key:
                return v
        raise KeyError(key)

    def get(self, key: str, default: str = "") -> str:
        try:
            return self[key]
        except KeyError:
            return default

    def as_dict(self) -> dict[str, str]:
        return dict(self.items)

    @property
    def script(self) -> str:
        """The route: ``agi_network_script`` without leading slash or ``?query``."""
        return self.get("agi_network_script").split("?", 1)[0].strip("/")

    @property
    def args(self) -> list[str]:
        numbered = [(int(k[8:]), v) for k, v in self.items if k.startswith("agi_arg_") and k[8:].isdigit()]
        return [v for _, v in sorted(numbered)]


def parse_env_line(line: str) -> tuple[str, str]:
    """One ``agi_key: value`` line (value may be empty: ``agi_accountcode: ``)."""
    key, sep, value = line.partition(":")
    if not sep or not _KEY.fullmatch(key):
        raise AgiProtocolError(f"not an agi_* environment line: {line[:80]!r}")
    if value.startswith(" "):
        value = value[1:]
    return key, value


def format_env_line(key: str, value: str) -> str:
    return f"{key}: {value}"


def parse_environment(lines: Iterable[str]) -> AgiEnvironment:
    return AgiEnvironment(tuple(parse_env_line(line) for line in lines))


def format_environment(env: AgiEnvironment) -> bytes:
    return "".join(format_env_line(k, v) + "\n" for k, v in env.items).encode() + b"\n"


# -------------------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    code: int
    result: str = ""
    data: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    text: str = ""  # for non-200 lines: the words after the code
    usage: tuple[str, ...] = ()  # the lines of a 520 usage block

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def result_int(self) -> int:
        try:
            return int(self.result)
        except ValueError:
            raise AgiProtocolError(f"result {self.result!r} is not a number") from None

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"

    @property
    def digit(self) -> str | None:
        """For STREAM FILE / WAIT FOR DIGIT: the key pressed (result is its ASCII code), or None."""
        code = self.result_int
        if code <= 0:
            return None
        return chr(code)

    def get(self, key: str) -> str | None:
        for k, v in self.extra:
            if k == key:
                return v
        return None


def parse_reply(line: str) -> Reply:
    """One reply line (not HANGUP); raises :class:`AgiProtocolError` when it isn't one."""
    m = _REPLY.fullmatch(line)
    if m is not None:
        extra = tuple(tuple(kv.split("=", 1)) for kv in m["extra"].split()) if m["extra"] else ()
        return Reply(int(m["code"]), m["result"], m["data"], extra)  # type: ignore[arg-type,unused-ignore]
    code, sep, text = line.partition(" ")
    if len(code) == 3 and code.isdigit() and code[0] in "12345" and (sep or not text):
        return Reply(int(code), text=text)
    raise AgiProtocolError(f"not an AGI reply: {line[:80]!r}")


def format_reply(reply: Reply) -> str:
    if reply.usage:
        return "\n".join(reply.usage)
    if reply.text and not (reply.result or reply.data is not None or reply.extra):
        return f"{reply.code} {reply.text}"
    if reply.code == 200 or reply.result or reply.data is not None or reply.extra:
        out = f"{reply.code} result={reply.result}"
        if reply.data is not None:
            out += f" ({reply.data})"
        for k, v in reply.extra:
            out += f" {k}={v}"
        return out
    return f"{reply.code} {reply.text}" if reply.text else str(reply.code)


# ------------------------------------------------------------------------------------- commands


def quote_arg(arg: str) -> str:
    """Quote one argument the way Asterisk's ``parse_args`` reads it back.

    Plain words go as they are (``hello-world``, ``CHANNEL(name)``); empty strings, spaces, quotes
    and backslashes get double quotes with ``\\`` escapes. Line breaks can't be carried at all: they
    would end the command and let a caller-controlled value inject another one.
    """
    if "\n" in arg or "\r" in arg or "\x00" in arg:
        raise AgiUsageError(f"AGI argument contains a line break or NUL: {arg[:40]!r}")
    if arg and not any(c in arg for c in ' \t"\\'):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_command(*words: str | int) -> bytes:
    """``build_command("STREAM FILE", "hello-world", "")`` → ``b'STREAM FILE hello-world ""\\n'``.

    The first word is the command name (already upper-case words, never quoted); the rest are
    arguments, quoted as needed.
    """
    if not words:
        raise AgiUsageError("empty AGI command")
    name = str(words[0])
    if not re.fullmatch(r"[A-Z]+(?: [A-Z]+)*", name):
        raise AgiUsageError(f"bad AGI command name {name!r}")
    parts = [name, *(quote_arg(str(w)) for w in words[1:])]
    return (" ".join(parts) + "\n").encode()


def split_command(line: str) -> list[str]:
    """Split a command line into words as Asterisk does (quotes group, backslash escapes)."""
    words: list[str] = []
    cur: list[str] = []
    quoted = escaped = in_word = False
    for c in line:
        if escaped:
            cur.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
            in_word = True
        elif c == '"':
            quoted = not quoted
            in_word = True
        elif c in " \t" and not quoted:
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        else:
            cur.append(c)
            in_word = True
    if quoted or escaped:
        raise AgiProtocolError(f"unterminated quote in {line[:80]!r}")
    if in_word:
        words.append("".join(cur))
    return words


# --------------------------------------------------------------------------- connection machine


@dataclass(frozen=True)
class EnvironmentReceived:
    env: AgiEnvironment


@dataclass(frozen=True)
class ReplyReceived:
    reply: Reply


@dataclass(frozen=True)
class HangupReceived:
    """Asterisk's bare ``HANGUP`` line: the channel hung up (may come before a pending reply)."""


@dataclass(frozen=True)
class NeedData:
    pass


AgiEvent = EnvironmentReceived | ReplyReceived | HangupReceived | NeedData


class Phase(enum.Enum):
    ENV = "env"
    READY = "ready"  # between commands
    AWAITING = "awaiting"  # a command is out, its reply not yet in
    USAGE = "usage"  # inside a 520 usage block
    CLOSED = "closed"


@dataclass
class AgiConnection:
    """One FastAGI connection's protocol state; feed bytes, read events, send commands."""

    max_line: int = DEFAULT_MAX_LINE
    max_env_lines: int = DEFAULT_MAX_ENV_LINES
    max_usage_lines: int = DEFAULT_MAX_USAGE_LINES
    max_usage_bytes: int = DEFAULT_MAX_USAGE_BYTES
    phase: Phase = Phase.ENV
    env: AgiEnvironment | None = None
    hung_up: bool = False
    _buf: bytearray = field(default_factory=bytearray)
    _env_lines: list[str] = field(default_factory=list)
    _usage: list[str] = field(default_factory=list)
    _usage_bytes: int = 0

    def receive_data(self, data: bytes) -> None:
        if self.phase is Phase.CLOSED:
            raise AgiProtocolError("data after the connection was closed")
        self._buf += data
        if b"\n" not in self._buf and len(self._buf) > self.max_line:
            raise AgiLimitError(f"line longer than {self.max_line} bytes")

    def _line(self) -> str | None:
        idx = self._buf.find(b"\n")
        if idx < 0:
            return None
        if idx > self.max_line:
            raise AgiLimitError(f"line longer than {self.max_line} bytes")
        raw = bytes(self._buf[:idx])
        del self._buf[: idx + 1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise AgiProtocolError(f"line is not UTF-8: {raw[:40]!r}") from None

    def next_event(self) -> AgiEvent:
        while True:
            line = self._line()
            if line is None:
                if self.phase is Phase.ENV and not b"agi_".startswith(bytes(self._buf[:4])):
                    # Not even the start of an environment line: refuse garbage now, not at timeout.
                    raise AgiProtocolError(f"not an agi_* environment line: {bytes(self._buf[:40])!r}")
                return NeedData()
            event = self._handle_line(line)
            if event is not None:
                return event

    def _handle_line(self, line: str) -> AgiEvent | None:
        if self.phase is Phase.ENV:
            if line == "":
                if not self._env_lines:
                    raise AgiProtocolError("empty agi_* environment")
                self.env = parse_environment(self._env_lines)
                self.phase = Phase.READY
                return EnvironmentReceived(self.env)
            if len(self._env_lines) >= self.max_env_lines:
                raise AgiLimitError(f"more than {self.max_env_lines} environment lines")
            parse_env_line(line)  # validate early: garbage is refused at its first line
            self._env_lines.append(line)
            return None
        if line == "HANGUP":
            self.hung_up = True
            return HangupReceived()
        if self.phase is Phase.USAGE:
            # bounded: a peer streaming "usage" lines forever must not grow our memory (issue 18 D5)
            self._usage_bytes += len(line) + 1
            if len(self._usage) >= self.max_usage_lines or self._usage_bytes > self.max_usage_bytes:
                raise AgiLimitError(
                    f"520 usage block longer than {self.max_usage_lines} lines or {self.max_usage_bytes} bytes"
                )
            self._usage.append(line)
            if line.startswith("520 End of proper usage"):
                self.phase = Phase.READY
                usage = tuple(self._usage)
                self._usage = []
                return ReplyReceived(Reply(520, text=usage[0][4:], usage=usage))
            return None
        if self.phase is not Phase.AWAITING:
            raise AgiProtocolError(f"unsolicited line from Asterisk: {line[:80]!r}")
        reply = parse_reply(line)
        if reply.code == 100:
            return None  # "100 result=0 Trying..." precedes the real reply
        if reply.code == 520 and reply.text.startswith("Invalid command syntax"):
            self.phase = Phase.USAGE
            self._usage = [line]
            self._usage_bytes = len(line) + 1
            return None
        self.phase = Phase.READY
        return ReplyReceived(reply)

    def send_command(self, *words: str | int) -> bytes:
        if self.phase is Phase.ENV:
            raise AgiUsageError("a command before the agi_* environment was complete")
        if self.phase in (Phase.AWAITING, Phase.USAGE):
            raise AgiUsageError("a command while the previous one is still waiting for its reply")
        if self.phase is Phase.CLOSED:
            raise AgiUsageError("a command on a closed connection")
        data = build_command(*words)
        self.phase = Phase.AWAITING
        return data

    def close(self) -> None:
        self.phase = Phase.CLOSED


def env_block(pairs: Mapping[str, str] | Sequence[tuple[str, str]]) -> bytes:
    """Bytes of an environment block, as Asterisk sends it (for test doubles and the stand-in)."""
    items = tuple(pairs.items()) if isinstance(pairs, Mapping) else tuple(pairs)
    return format_environment(AgiEnvironment(items))
