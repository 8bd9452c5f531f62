"""Render the Asterisk configuration set from the service settings.

The templates are package data in ``ari_app/asterisk_conf/templates``, so a plain (non-editable)
install and the Docker image render with nothing else to set; ``HOTEL_OPERATOR_CONF_TEMPLATES`` or
``--templates`` point at an edited copy. They use ``%{name}`` placeholders, not ``$name``: the dialplan is full of ``${EXTEN}``
and friends that must pass through untouched. Secrets are read from the settings at render time
and only ever land in the rendered files, which are written readable by owner and group only.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from ari_app.asterisk_conf.errors import RenderError, TemplateError
from ari_app.asterisk_conf.passwords import derive_phone_password, weakness
from ari_app.settings import TEMPLATES_ENV, Settings

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

CONF_FILES = (
    "pjsip.conf",
    "extensions.conf",
    "ari.conf",
    "http.conf",
    "manager.conf",
    "rtp.conf",
    "modules.conf",
)
PHONE_LIST = "desk-phones.csv"
AGI_EXTENSION = "*7"


class _ConfTemplate(Template):
    delimiter = "%"


@dataclass(frozen=True)
class Phone:
    """One SIP handset: its endpoint name (also its user name), extension and dialplan context."""

    name: str
    extension: str
    label: str
    context: str


def templates_dir(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get(TEMPLATES_ENV)
    return Path(env) if env else TEMPLATES_DIR


class _Templates:
    def __init__(self, root: Path) -> None:
        self.root = root

    def fill(self, template: str, /, **values: object) -> str:
        path = self.root / template
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TemplateError(
                f"template {path} is missing (set {TEMPLATES_ENV} to the templates folder)"
            ) from None
        try:
            return _ConfTemplate(text).substitute({k: str(v) for k, v in values.items()})
        except (KeyError, ValueError) as exc:
            raise TemplateError(f"template {path}: placeholder {exc} has no value") from None


def _env_name(label: str) -> str:
    return "HOTEL_OPERATOR_" + label.upper().replace(".", "__")


def secret_problems(settings: Settings) -> list[str]:
    """Every secret the render needs that is missing or weak, all at once (not one per run).

    The same conditions as :func:`render_text` uses to pick which secrets it needs, each named with
    the environment variable that sets it.
    """
    ast, ph, trunk = settings.asterisk, settings.phones, settings.trunk
    wanted: list[tuple[str, str, str]] = [("asterisk.ari_password", ast.ari_password.get_secret_value(), ast.ari_user)]
    if ast.ami_enabled:
        wanted.append(("asterisk.ami_password", ast.ami_password.get_secret_value(), ast.ami_user))
    try:
        has_phones = bool(phones(settings))
    except RenderError:
        has_phones = ph.front_desk_phones > 0 or ph.room_count > 0  # the clash is reported by render_text
    if has_phones:
        wanted.append(("phones.password", ph.password.get_secret_value(), ""))
    if ph.webrtc:
        wanted.append(("phones.webrtc_password", ph.webrtc_password.get_secret_value(), "webrtc-guest"))
    if trunk.type == "twilio" or (trunk.type == "generic" and trunk.username):
        wanted.append(("trunk.password", trunk.password.get_secret_value(), trunk.username))
    problems = []
    for label, value, username in wanted:
        reason = weakness(value, username=username)
        if reason is not None:
            problems.append(f"{label} {reason} ({_env_name(label)})")
    return problems


def _secret(label: str, value: str, *, username: str = "") -> str:
    reason = weakness(value, username=username)
    if reason is not None:
        raise RenderError(
            f"{label} {reason}: set a strong secret (environment or secrets file) and render again"
        )
    if any(ch in value for ch in ";\n\r"):
        raise RenderError(f"{label} contains ';' or a line break, which Asterisk's config format can't carry")
    return value


def phones(settings: Settings) -> list[Phone]:
    """The handsets to render, in a stable order; raises when numbers clash."""
    p = settings.phones
    hotel = settings.hotel
    result: list[Phone] = []
    for i in range(1, p.front_desk_phones + 1):
        result.append(Phone(f"frontdesk{i}", hotel.front_desk_extension, f"Front desk {i}", "staff-phones"))
    for dept, ext in sorted(hotel.departments.items(), key=lambda kv: kv[1]):
        if ext == hotel.front_desk_extension:
            continue
        result.append(Phone(ext, ext, dept.title(), "staff-phones"))
    for number in range(p.room_first, p.room_first + p.room_count):
        result.append(Phone(str(number), str(number), f"Room {number}", "hotel-phones"))
    used: dict[str, str] = {"0": "the operator", AGI_EXTENSION: "the FastAGI example"}
    for ph in result:
        if ph.name.startswith("frontdesk"):
            continue
        if ph.extension in used:
            raise RenderError(f"extension {ph.extension} ({ph.label}) clashes with {used[ph.extension]}")
        used[ph.extension] = ph.label
    if hotel.front_desk_extension in {ph.extension for ph in result if not ph.name.startswith("frontdesk")}:
        raise RenderError(
            f"hotel.front_desk_extension {hotel.front_desk_extension} clashes with a phone extension"
        )
    return result


def _front_desk_dial(settings: Settings, handsets: list[Phone]) -> str:
    if settings.phones.front_desk_dial:
        return settings.phones.front_desk_dial
    desk = [f"PJSIP/{ph.name}" for ph in handsets if ph.name.startswith("frontdesk")]
    if not desk:
        raise RenderError(
            "no front desk to fall back to: set phones.front_desk_phones >= 1 or phones.front_desk_dial"
        )
    return "&".join(desk)


def _http_port(settings: Settings) -> int:
    parts = urlsplit(settings.asterisk.ari_url)
    if parts.port:
        return parts.port
    return 443 if parts.scheme == "https" else 80


def _after_hours_lines(after_hours: str) -> list[str]:
    """GotoIfTime lines for a range like 22:00-07:00, split at midnight so no wrap-around is assumed."""
    if not after_hours:
        return []
    start, end = after_hours.split("-")
    if start == end:
        raise RenderError("deploy.after_hours starts and ends at the same time")
    end_h, end_m = (int(x) for x in end.split(":"))
    minutes = end_h * 60 + end_m - 1
    before_end = f"{minutes // 60:02d}:{minutes % 60:02d}"
    if start < end:
        ranges = [f"{start}-{before_end}"]
    else:
        ranges = [f"{start}-23:59"]
        if end != "00:00":
            ranges.append(f"00:00-{before_end}")
    return [f" same => n,GotoIfTime({r},*,*,*?afterhours)" for r in ranges]


def _netmask(cidr: str) -> str:
    net = ipaddress.ip_network(cidr, strict=False)
    return f"{net.network_address}/{net.netmask}"


def _contact_params(transport: str) -> str:
    # Asterisk's config reader takes an unescaped ';' as the start of a comment.
    return f"\\;transport={transport}" if transport != "udp" else ""


def render_text(settings: Settings, *, templates: Path | None = None) -> dict[str, str]:
    """The whole configuration set as ``{file name: text}``; raises :class:`RenderError` first."""
    problems = secret_problems(settings)
    if len(problems) > 1:
        raise RenderError(
            f"{len(problems)} secrets must be fixed: {'; '.join(problems)}. Set strong secrets "
            "(environment or secrets file; docs/deploy.md shows the lines) and render again"
        )
    t = _Templates(templates_dir(templates))
    ast = settings.asterisk
    dep = settings.deploy
    trunk = settings.trunk
    ph = settings.phones

    ari_password = _secret(
        "asterisk.ari_password", ast.ari_password.get_secret_value(), username=ast.ari_user
    )
    ami_password = ""
    if ast.ami_enabled:
        ami_password = _secret(
            "asterisk.ami_password", ast.ami_password.get_secret_value(), username=ast.ami_user
        )
    handsets = phones(settings)
    seed = ""
    if handsets:
        seed = _secret("phones.password", ph.password.get_secret_value())
    if ph.webrtc:
        _secret("phones.webrtc_password", ph.webrtc_password.get_secret_value(), username="webrtc-guest")
        if not dep.tls_cert_file or not dep.tls_key_file:
            raise RenderError(
                "phones.webrtc needs deploy.tls_cert_file and deploy.tls_key_file (browsers require WSS)"
            )
    if trunk.transport == "tls" and not (dep.tls_cert_file and dep.tls_key_file):
        raise RenderError("trunk.transport = tls needs deploy.tls_cert_file and deploy.tls_key_file")
    if trunk.srtp and trunk.transport != "tls":
        raise RenderError("trunk.srtp needs trunk.transport = tls (SRTP keys travel in the signalling)")
    if trunk.type != "none" and not trunk.dids:
        raise RenderError("trunk.dids is empty: list the numbers that should reach the operator")
    if dep.rtp_start <= settings.media.port_max and settings.media.port_min <= dep.rtp_end:
        raise RenderError(
            f"deploy.rtp_start..rtp_end ({dep.rtp_start}-{dep.rtp_end}) overlaps media.port_min..port_max "
            f"({settings.media.port_min}-{settings.media.port_max})"
        )

    nat_block = ""
    if dep.external_address:
        nat_block = t.fill(
            "parts/nat.tmpl",
            external_address=dep.external_address,
            local_net_lines="\n".join(f"local_net = {n}" for n in dep.local_nets),
        )
    has_tls = bool(dep.tls_cert_file and dep.tls_key_file)
    common = {"sip_bind": dep.sip_bind, "sip_port": dep.sip_port, "tls_port": dep.tls_port}
    if has_tls:
        tls_block = t.fill(
            "parts/tls-transport.tmpl",
            **common,
            tls_cert_file=dep.tls_cert_file,
            tls_key_file=dep.tls_key_file,
            nat_block=nat_block,
        )
    else:
        tls_block = t.fill("parts/tls-absent.tmpl", tls_port=dep.tls_port)

    trunk_block = _trunk_block(settings, t)

    phone_rows: list[tuple[str, str, str]] = []
    phones_block = []
    for p in handsets:
        password = derive_phone_password(seed, p.name)
        phone_rows.append((p.name, p.extension, password))
        phones_block.append(
            t.fill(
                "parts/phone.tmpl",
                name=p.name,
                context=p.context,
                label=p.label,
                extension=p.extension,
                password=password,
            )
        )
    if not handsets:
        phones_block.append("; No desk phones configured.\n")

    if ph.webrtc:
        webrtc_pjsip = t.fill(
            "parts/webrtc.tmpl",
            sip_bind=dep.sip_bind,
            webrtc_port=ph.webrtc_port,
            webrtc_password=ph.webrtc_password.get_secret_value(),
        )
    else:
        webrtc_pjsip = t.fill("parts/webrtc-absent.tmpl")

    files: dict[str, str] = {}
    files["pjsip.conf"] = t.fill(
        "pjsip.conf.tmpl",
        hotel_name=settings.hotel.name,
        **common,
        trunk_type=trunk.type,
        nat_block=nat_block,
        tls_block=tls_block,
        trunk_block=trunk_block,
        phones_block="".join(phones_block),
        webrtc_block=webrtc_pjsip,
    )
    files["extensions.conf"] = _extensions(settings, t, handsets)
    files["ari.conf"] = t.fill(
        "ari.conf.tmpl", hotel_name=settings.hotel.name, ari_user=ast.ari_user, ari_password=ari_password
    )
    http_tls = ""
    if ph.webrtc:
        http_tls = t.fill(
            "parts/http-tls.tmpl",
            sip_bind=dep.sip_bind,
            webrtc_port=ph.webrtc_port,
            tls_cert_file=dep.tls_cert_file,
            tls_key_file=dep.tls_key_file,
        )
    files["http.conf"] = t.fill(
        "http.conf.tmpl", http_bind=dep.http_bind, http_port=_http_port(settings), tls_block=http_tls
    )
    files["manager.conf"] = t.fill(
        "manager.conf.tmpl",
        ami_enabled="yes" if ast.ami_enabled else "no",
        ami_port=ast.ami_port,
        http_bind=dep.http_bind,
        ami_user=ast.ami_user,
        ami_password=ami_password or "disabled-" + os.urandom(12).hex(),
        permit=_netmask(dep.service_network),
    )
    files["rtp.conf"] = t.fill(
        "rtp.conf.tmpl",
        media_min=settings.media.port_min,
        media_max=settings.media.port_max,
        rtp_start=dep.rtp_start,
        rtp_end=dep.rtp_end,
        ice_lines="icesupport = yes\n" if ph.webrtc else "",
    )
    files["modules.conf"] = t.fill("modules.conf.tmpl", extra_noload="")
    if phone_rows:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["endpoint", "extension", "password"])
        writer.writerows(phone_rows)
        files[PHONE_LIST] = buf.getvalue()
    return files


def _trunk_block(settings: Settings, t: _Templates) -> str:
    trunk = settings.trunk
    if trunk.type == "none":
        return t.fill("parts/trunk-none.tmpl")
    srtp_lines = "media_encryption = sdes\nmedia_encryption_optimistic = no\n" if trunk.srtp else ""
    caller_id_line = f"callerid = <{trunk.caller_id}>\n" if trunk.caller_id else ""
    params = _contact_params(trunk.transport)
    if trunk.type == "twilio":
        if not trunk.twilio_termination_uri:
            raise RenderError("trunk.twilio_termination_uri is empty (e.g. myhotel.pstn.twilio.com)")
        if not trunk.twilio_signalling_cidrs:
            raise RenderError(
                "trunk.twilio_signalling_cidrs is empty: calls from Twilio could not be matched"
            )
        if not trunk.username:
            raise RenderError("trunk.username is empty: give the Credential List user of the Twilio trunk")
        password = _secret("trunk.password", trunk.password.get_secret_value(), username=trunk.username)
        uri = trunk.twilio_termination_uri.removeprefix("sip:")
        if trunk.transport == "tls":
            uri = f"{uri}:5061"
        return t.fill(
            "parts/trunk-twilio.tmpl",
            trunk_transport=trunk.transport,
            origination_hint=";transport=tls (port 5061)" if trunk.transport == "tls" else "",
            twilio_uri=uri,
            contact_params=params,
            trunk_username=trunk.username,
            trunk_password=password,
            srtp_lines=srtp_lines,
            caller_id_line=caller_id_line,
            match_lines="\n".join(f"match = {c}" for c in trunk.twilio_signalling_cidrs) + "\n",
        )
    if not trunk.host:
        raise RenderError("trunk.host is empty: give the SIP provider's host name or address")
    auth_block = auth_ref = registration = ""
    if trunk.username:
        password = _secret("trunk.password", trunk.password.get_secret_value(), username=trunk.username)
        auth_block = t.fill("parts/trunk-auth.tmpl", trunk_username=trunk.username, trunk_password=password)
        auth_ref = "outbound_auth = trunk-auth\n"
        if trunk.registration:
            registration = t.fill(
                "parts/trunk-registration.tmpl",
                trunk_transport=trunk.transport,
                trunk_host=trunk.host,
                trunk_port=trunk.port,
                trunk_username=trunk.username,
                contact_params=params,
            )
    elif trunk.registration:
        raise RenderError("trunk.registration needs trunk.username and trunk.password")
    return t.fill(
        "parts/trunk-generic.tmpl",
        trunk_transport=trunk.transport,
        trunk_host=trunk.host,
        trunk_port=trunk.port,
        contact_params=params,
        trunk_auth_ref=auth_ref,
        from_domain_line=f"from_domain = {trunk.from_domain}\n" if trunk.from_domain else "",
        srtp_lines=srtp_lines,
        caller_id_line=caller_id_line,
        trunk_auth_block=auth_block,
        registration_block=registration,
    )


def _extensions(settings: Settings, t: _Templates, handsets: list[Phone]) -> str:
    app = settings.asterisk.app_name
    trunk = settings.trunk
    hours = _after_hours_lines(settings.deploy.after_hours)
    did_parts: list[str] = []
    if trunk.type == "none":
        did_parts.append("; No trunk (trunk.type = none): nothing arrives here.\nexten => s,1,Hangup()\n")
    for did in trunk.dids:
        target = t.fill("parts/did-after-hours.tmpl", app=app, did=did) if hours else ""
        did_parts.append(
            t.fill(
                "parts/did.tmpl",
                did=did,
                app=app,
                after_hours_lines="".join(line + "\n" for line in hours),
                after_hours_target=target,
            )
        )
    if trunk.dids:
        did_parts.append(t.fill("parts/did-catchall.tmpl", did=trunk.dids[0]))
    internal = []
    for p in handsets:
        if p.name.startswith("frontdesk"):
            continue
        internal.append(f"exten => {p.extension},1,Dial(PJSIP/{p.name},${{RING_S}})\n same => n,Hangup()\n")
    outbound = ""
    if trunk.type != "none":
        outbound = t.fill("parts/outbound.tmpl", caller_id=trunk.caller_id or trunk.dids[0])
    return t.fill(
        "extensions.conf.tmpl",
        hotel_name=settings.hotel.name,
        app=app,
        front_desk_ext=settings.hotel.front_desk_extension,
        front_desk_dial=_front_desk_dial(settings, handsets),
        ring_s=settings.phones.ring_timeout_s,
        agi_ext=AGI_EXTENSION,
        agi_host=settings.deploy.service_host or settings.asterisk.agi_host,
        agi_port=settings.asterisk.agi_port,
        did_block="".join(did_parts),
        internal_block="".join(internal),
        outbound_block=outbound,
        webrtc_block=_webrtc_dialplan(settings, t),
        dead_man_block=t.fill("parts/dead-man.tmpl"),
    )


def _webrtc_dialplan(settings: Settings, t: _Templates) -> str:
    if settings.phones.webrtc:
        return t.fill("parts/webrtc-dialplan.tmpl", app=settings.asterisk.app_name)
    return "; phones.webrtc is off: no browser endpoint.\nexten => 0,1,Hangup()\n"


def render(settings: Settings, out_dir: Path | str, *, templates: Path | None = None) -> list[Path]:
    """Write the configuration set into ``out_dir`` and return the files written.

    Nothing is written unless every file renders: a refused secret leaves the folder as it was.
    """
    files = render_text(settings, templates=templates)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in files.items():
        path = out / name
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600 if name == PHONE_LIST else 0o640)
        os.replace(tmp, path)
        written.append(path)
    return written
