"""Check an Asterisk configuration folder before the IT person reloads Asterisk.

Two layers: ``asterisklint`` (the PyPI dialplan checker) for dialplan syntax and application
arguments, then our own cross-file checks that a generic linter can't know: every context a call
can be sent to exists, the ARI app is ours, credentials match the service's settings and are not
defaults, the RTP ranges don't collide, ARI/AMI are not exposed. Every finding names a file and a
line so the reader can go straight there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ari_app.asterisk_conf.parse import AppCall, Section, dialplan_calls, parse_conf, split_args
from ari_app.asterisk_conf.passwords import weakness
from ari_app.settings import Settings

LINT_TIMEOUT_S = 60.0
_LINT_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+) (?P<code>[A-Z][A-Z0-9_]*): (?P<msg>.*)$")
_LOCAL = re.compile(r"Local/[^@,&()\s]*@(?P<ctx>[^,&()/\s]+)")
_PJSIP = re.compile(r"PJSIP/(?P<target>[^,&()\s]+)")
_AGI_URL = re.compile(r"agi://(?P<host>[^:/,\s)]+)(?::(?P<port>\d+))?")
_JUMPS = {"goto", "gosub"}
_COND_JUMPS = {"gotoif", "gosubif", "gotoiftime", "execiftime"}
# "system" only because res_pjsip registers PJSIPShowEndpoints/PJSIPShowContacts with that class;
# everything that acts on calls (call, originate), configuration (config) or the CLI (command) stays out.
_AMI_WRITE_ALLOWED = {"reporting", "system", ""}


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class _Files:
    """The folder's config files, parsed once; a missing file is itself a finding."""

    def __init__(self, root: Path, findings: list[Finding]) -> None:
        self.root = root
        self.findings = findings
        self.cache: dict[str, list[Section] | None] = {}

    def path(self, name: str) -> str:
        return str(self.root / name)

    def get(self, name: str) -> list[Section] | None:
        if name not in self.cache:
            path = self.root / name
            try:
                self.cache[name] = parse_conf(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                self.findings.append(Finding(str(path), 0, "file is missing"))
                self.cache[name] = None
        return self.cache[name]

    def add(self, name: str, line: int, message: str) -> None:
        self.findings.append(Finding(self.path(name), line, message))


def check(conf_dir: Path | str, settings: Settings, *, lint: bool = True) -> list[Finding]:
    """Every problem found in ``conf_dir``, in file order; an empty list means reload away."""
    root = Path(conf_dir)
    findings: list[Finding] = []
    files = _Files(root, findings)
    if lint and (root / "extensions.conf").exists():
        findings.extend(run_asterisklint(root / "extensions.conf", files.path("extensions.conf")))
    _check_dialplan(files, settings)
    _check_pjsip(files)
    _check_ari(files, settings)
    _check_manager(files, settings)
    _check_http(files, settings)
    _check_rtp(files, settings)
    findings.sort(key=lambda f: (f.file, f.line, f.message))
    return findings


def run_asterisklint(extensions: Path, shown_as: str) -> list[Finding]:
    """Run ``asterisklint dialplan-check`` in a child process.

    A child, because asterisklint keeps its findings in module-level state: running it twice in
    one process would report the first file's problems again.
    """
    code = "import os, sys\nfrom asterisklint.main import main\nsys.exit(main(sys.argv[1:], os.environ))"
    cmd = [sys.executable, "-c", code, "dialplan-check", "--func-odbc", "", str(extensions)]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=LINT_TIMEOUT_S,
            env={**os.environ, "ALINT_IGNORE": ""},
        )
    except subprocess.TimeoutExpired:
        return [Finding(shown_as, 0, f"asterisklint did not finish in {LINT_TIMEOUT_S:g} s")]
    out: list[Finding] = []
    for line in (proc.stdout + proc.stderr).splitlines():
        m = _LINT_LINE.match(line.strip())
        if m:
            out.append(
                Finding(shown_as, int(m.group("line")), f"{m.group('code')}: {m.group('msg')} (asterisklint)")
            )
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not out):
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        out.append(Finding(shown_as, 0, f"asterisklint could not check the dialplan: {detail}"))
    return out


# ---------------------------------------------------------------- dialplan


def _jump_contexts(call: AppCall) -> list[str]:
    """Contexts a Goto/Gosub-style application names explicitly (three-part destinations only)."""
    name = call.app.lower()
    dests: list[str] = []
    if name in _JUMPS:
        dests = [call.args]
    elif name in _COND_JUMPS:
        parts = split_args(call.args, "?")
        if len(parts) >= 2:
            dests = split_args("?".join(parts[1:]), ":")
    found = []
    for dest in dests:
        pieces = split_args(dest.strip(), ",")
        if len(pieces) >= 3 and pieces[0].strip():
            found.append(pieces[0].strip())
    return found


def _check_dialplan(files: _Files, settings: Settings) -> None:
    sections = files.get("extensions.conf")
    if sections is None:
        return
    contexts = {s.name for s in sections if s.name not in ("general", "globals")}
    endpoints = _pjsip_endpoints(files.get("pjsip.conf") or [])
    apps = {s.app_name for s in settings.asterisk.servers()}

    def ref(ctx: str, line: int, how: str) -> None:
        if "$" in ctx:
            return
        if ctx not in contexts:
            files.add("extensions.conf", line, f"{how} names context '{ctx}', which does not exist")

    for sec in sections:
        for item in sec.all("include"):
            ref(item.value, item.line, "include")
        if sec.name == "globals":
            for item in sec.items:
                _pjsip_targets(files, item.value, item.line, endpoints)
    for call in dialplan_calls(sections):
        for ctx in _jump_contexts(call):
            ref(ctx, call.line, call.app)
        for m in _LOCAL.finditer(call.args):
            ref(m.group("ctx"), call.line, f"{call.app} Local channel")
        if call.app.lower() in ("dial", "queue", "page"):
            _pjsip_targets(files, call.args, call.line, endpoints)
        if call.app.lower() == "stasis":
            name = split_args(call.args, ",")[0].strip()
            if name not in apps:
                files.add(
                    "extensions.conf",
                    call.line,
                    f"Stasis app '{name}' is not ours: asterisk.app_name is '{settings.asterisk.app_name}'",
                )
        if call.app.lower() == "agi":
            url = _AGI_URL.search(call.args)
            if url:
                port = int(url.group("port") or 4573)
                if port != settings.asterisk.agi_port:
                    files.add(
                        "extensions.conf",
                        call.line,
                        f"AGI to port {port}, but the service's FastAGI listens on {settings.asterisk.agi_port}",
                    )
                if url.group("host") in ("0.0.0.0", "::"):
                    files.add(
                        "extensions.conf",
                        call.line,
                        "AGI to 0.0.0.0: give the address Asterisk reaches us on",
                    )
    transfer_ctx = settings.ivr.transfer_context
    if transfer_ctx not in contexts:
        # the operator hands callers to desks and rooms through this context: it must exist
        files.add(
            "extensions.conf",
            0,
            f"ivr.transfer_context '{transfer_ctx}' (where the operator transfers callers) does not exist",
        )
    pjsip = files.get("pjsip.conf") or []
    for sec in pjsip:
        ctx_item = sec.get("context")
        if ctx_item is not None and ctx_item.value not in contexts:
            files.add(
                "pjsip.conf",
                ctx_item.line,
                f"endpoint [{sec.name}] context '{ctx_item.value}' is not in extensions.conf",
            )


def _pjsip_targets(files: _Files, text: str, line: int, endpoints: set[str] | None) -> None:
    if endpoints is None:
        return
    for m in _PJSIP.finditer(text):
        target = m.group("target")
        name = target.split("@", 1)[1] if "@" in target else target
        if "$" in name or not name:
            continue
        if name not in endpoints:
            files.add("extensions.conf", line, f"PJSIP/{target}: no endpoint '{name}' in pjsip.conf")


# ---------------------------------------------------------------- pjsip


def _types(sections: list[Section]) -> list[tuple[Section, str]]:
    """Each section with its effective ``type``, following template inheritance."""
    by_name: dict[str, list[Section]] = {}
    for s in sections:
        by_name.setdefault(s.name, []).append(s)

    def type_of(sec: Section, seen: frozenset[str]) -> str:
        item = sec.get("type")
        if item is not None:
            return item.value
        for tmpl in sec.templates:
            if tmpl in seen:
                continue
            for parent in by_name.get(tmpl, []):
                if parent.is_template:
                    found = type_of(parent, seen | {tmpl})
                    if found:
                        return found
        return ""

    return [(s, type_of(s, frozenset({s.name}))) for s in sections]


def _pjsip_endpoints(sections: list[Section]) -> set[str] | None:
    if not sections:
        return None
    return {s.name for s, kind in _types(sections) if kind == "endpoint" and not s.is_template}


def _check_pjsip(files: _Files) -> None:
    sections = files.get("pjsip.conf")
    if sections is None:
        return
    typed = [(s, k) for s, k in _types(sections) if not s.is_template]
    names_by_type: dict[str, set[str]] = {}
    for sec, kind in typed:
        names_by_type.setdefault(kind, set()).add(sec.name)
    has_identify = bool(names_by_type.get("identify"))
    has_auth = bool(names_by_type.get("auth"))
    order_item = next((s.get("endpoint_identifier_order") for s, k in typed if k == "global"), None)
    if has_identify and has_auth:
        if order_item is None:
            files.add(
                "pjsip.conf",
                0,
                "IP-matched and password endpoints both exist but [global] sets no endpoint_identifier_order "
                "(use username,ip,anonymous or phones behind the trunk's address are taken for the trunk)",
            )
        else:
            order = [o.strip() for o in order_item.value.split(",")]
            if "ip" in order and "username" in order and order.index("ip") < order.index("username"):
                files.add(
                    "pjsip.conf",
                    order_item.line,
                    "endpoint_identifier_order puts ip before username: phones on the trunk's address "
                    "would be matched as the trunk (use username,ip,anonymous)",
                )
    refs = {
        "auth": "auth",
        "outbound_auth": "auth",
        "aors": "aor",
        "transport": "transport",
        "endpoint": "endpoint",
    }
    for sec, kind in _types(sections):
        for key, want in refs.items():
            for item in sec.all(key):
                if kind == "aor" and key == "endpoint":
                    continue
                for name in (v.strip() for v in item.value.split(",")):
                    if name and name not in names_by_type.get(want, set()):
                        files.add(
                            "pjsip.conf",
                            item.line,
                            f"[{sec.name}] {key} = {name}: no {want} section '{name}'",
                        )
        if kind == "auth" and not sec.is_template:
            pw = sec.get("password")
            user = sec.get("username")
            if pw is None:
                files.add("pjsip.conf", sec.line, f"auth [{sec.name}] has no password")
            else:
                reason = weakness(pw.value, username=user.value if user else "")
                if reason:
                    files.add("pjsip.conf", pw.line, f"auth [{sec.name}] password {reason}")


# ---------------------------------------------------------------- ari / manager / http


def _section(sections: Iterable[Section], name: str) -> Section | None:
    return next((s for s in sections if s.name == name), None)


def _check_secret(
    files: _Files, name: str, item: Section, key: str, expected: str, what: str, user: str
) -> None:
    entry = item.get(key)
    if entry is None:
        files.add(name, item.line, f"{what} has no {key}")
        return
    reason = weakness(entry.value, username=user)
    if reason:
        files.add(name, entry.line, f"{what} {key} {reason}")
    elif expected and entry.value != expected:
        files.add(name, entry.line, f"{what} {key} differs from the service's settings (render again)")


def _check_ari(files: _Files, settings: Settings) -> None:
    sections = files.get("ari.conf")
    if sections is None:
        return
    general = _section(sections, "general")
    enabled = general.get("enabled") if general else None
    if enabled is None or enabled.value.lower() not in ("yes", "true", "1", "on"):
        files.add("ari.conf", enabled.line if enabled else 0, "ARI is not enabled ([general] enabled = yes)")
    user = settings.asterisk.ari_user
    sec = _section(sections, user)
    if sec is None:
        files.add("ari.conf", 0, f"no ARI user [{user}] (asterisk.ari_user)")
    else:
        _check_secret(
            files,
            "ari.conf",
            sec,
            "password",
            settings.asterisk.ari_password.get_secret_value(),
            f"ARI user {user}",
            user,
        )
    for s in sections:
        if s.name != "general":
            pw = s.get("password")
            if pw is not None and s.name != user:
                reason = weakness(pw.value, username=s.name)
                if reason:
                    files.add("ari.conf", pw.line, f"ARI user {s.name} password {reason}")


def _wildcard(addr: str) -> bool:
    return addr.strip() in ("0.0.0.0", "::", "[::]", "")


def _check_manager(files: _Files, settings: Settings) -> None:
    ast = settings.asterisk
    sections = files.get("manager.conf")
    if sections is None:
        return
    general = _section(sections, "general")
    if general is not None:
        bind = general.get("bindaddr")
        if bind is not None and _wildcard(bind.value) and ast.ami_enabled:
            files.add(
                "manager.conf", bind.line, "AMI listens on every interface: bind it to the service's network"
            )
        port = general.get("port")
        if port is not None and ast.ami_enabled and port.value.strip() != str(ast.ami_port):
            files.add(
                "manager.conf",
                port.line,
                f"AMI port {port.value} differs from asterisk.ami_port {ast.ami_port}",
            )
    for sec in sections:
        if sec.name == "general":
            continue
        expected = ast.ami_password.get_secret_value() if sec.name == ast.ami_user else ""
        _check_secret(files, "manager.conf", sec, "secret", expected, f"AMI user {sec.name}", sec.name)
        if sec.name == ast.ami_user:
            for item in sec.all("write"):
                classes = {c.strip().lower() for c in item.value.split(",")}
                extra = sorted(classes - _AMI_WRITE_ALLOWED)
                if extra:
                    files.add(
                        "manager.conf",
                        item.line,
                        f"AMI monitor user may write {','.join(extra)}: it needs only 'system,reporting' (list actions)",
                    )
    if ast.ami_enabled and _section(sections, ast.ami_user) is None:
        files.add("manager.conf", 0, f"no AMI user [{ast.ami_user}] (asterisk.ami_user)")


def _check_http(files: _Files, settings: Settings) -> None:
    sections = files.get("http.conf")
    if sections is None:
        return
    general = _section(sections, "general")
    if general is None:
        files.add("http.conf", 0, "no [general] section: ARI has no HTTP server")
        return
    bind = general.get("bindaddr")
    if bind is None or _wildcard(bind.value):
        files.add(
            "http.conf",
            bind.line if bind else general.line,
            "the HTTP server (ARI) listens on every interface: bind it to the service's network only",
        )
    port = general.get("bindport")
    url = urlsplit(settings.asterisk.ari_url)
    want = url.port or (443 if url.scheme == "https" else 80)
    if port is not None and port.value.strip() != str(want):
        files.add("http.conf", port.line, f"ARI port {port.value} differs from asterisk.ari_url ({want})")


# ---------------------------------------------------------------- rtp


def _check_rtp(files: _Files, settings: Settings) -> None:
    sections = files.get("rtp.conf")
    if sections is None:
        return
    general = _section(sections, "general")
    start = general.get("rtpstart") if general else None
    end = general.get("rtpend") if general else None
    if start is None or end is None:
        files.add(
            "rtp.conf",
            general.line if general else 0,
            "rtpstart/rtpend not set (Asterisk would use 5000-31000)",
        )
        lo, hi, line = 5000, 31000, general.line if general else 0
    else:
        try:
            lo, hi = int(start.value), int(end.value)
        except ValueError:
            files.add("rtp.conf", start.line, "rtpstart/rtpend must be numbers")
            return
        # Point at the bound that reaches into the service's range: that is the line to change.
        line = end.line if settings.media.port_min <= hi <= settings.media.port_max else start.line
        if hi <= lo:
            files.add("rtp.conf", end.line, f"rtpend {hi} is not above rtpstart {lo}")
    media = settings.media
    if lo <= media.port_max and media.port_min <= hi:
        files.add(
            "rtp.conf",
            line,
            f"Asterisk's RTP range {lo}-{hi} overlaps the service's media range {media.port_min}-{media.port_max}",
        )
