"""The generated Asterisk configuration: it renders for each install shape, passes our checker,
routes DIDs into the app named in the settings, falls back to the front desk, and the checker
finds the mistakes people make when they edit it by hand."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ari_app.asterisk_conf import Finding, RenderError, check, render
from ari_app.asterisk_conf.cli import conf_app
from ari_app.asterisk_conf.parse import dialplan_calls, parse_conf, split_args
from ari_app.settings import Settings

MakeSettings = Callable[..., Settings]
CONF_FILES = {
    "pjsip.conf",
    "extensions.conf",
    "ari.conf",
    "http.conf",
    "manager.conf",
    "rtp.conf",
    "modules.conf",
}


def _rendered(tmp_path: Path, settings: Settings) -> Path:
    out = tmp_path / "conf"
    render(settings, out)
    return out


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def _insert_after(path: Path, needle: str, new_line: str) -> int:
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if needle in line)
    lines.insert(index + 1, new_line)
    path.write_text("\n".join(lines) + "\n")
    return index + 2


def test_given_each_install_shape_when_rendered_then_check_finds_nothing(
    tmp_path: Path, make_settings: MakeSettings, setup_kind: str
) -> None:
    settings = make_settings(setup_kind)
    written = render(settings, tmp_path / "conf")

    assert CONF_FILES <= {p.name for p in written}
    assert check(tmp_path / "conf", settings) == []


@pytest.mark.parametrize("kind", ["generic", "twilio"])
def test_given_rendered_dialplan_when_parsed_then_every_did_enters_stasis_of_the_configured_app(
    tmp_path: Path, make_settings: MakeSettings, kind: str
) -> None:
    settings = make_settings(kind)
    out = _rendered(tmp_path, settings)
    calls = dialplan_calls(parse_conf((out / "extensions.conf").read_text()))

    for did in settings.trunk.dids:
        stasis = [c for c in calls if c.context == "from-trunk" and c.app == "Stasis" and did in c.args]
        args = [split_args(c.args) for c in stasis]
        assert [settings.asterisk.app_name, "inbound", did] in args
        assert all(a[0] == settings.asterisk.app_name for a in args)


def test_given_after_hours_when_rendered_then_night_calls_enter_stasis_as_afterhours(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    settings = make_settings("twilio")
    out = _rendered(tmp_path, settings)
    calls = [
        c
        for c in dialplan_calls(parse_conf((out / "extensions.conf").read_text()))
        if c.context == "from-trunk"
    ]
    did = settings.trunk.dids[0]

    time_checks = [c.args for c in calls if c.app == "GotoIfTime"]
    labelled = [c for c in calls if c.label == "afterhours"]
    assert time_checks == ["22:30-23:59,*,*,*?afterhours", "00:00-05:59,*,*,*?afterhours"]
    assert len(labelled) == 1 and labelled[0].app == "Stasis"
    assert split_args(labelled[0].args) == [settings.asterisk.app_name, "afterhours", did]


def test_given_app_not_running_when_stasis_returns_then_dialplan_rings_the_front_desk_handsets(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    settings = make_settings("phones")
    out = _rendered(tmp_path, settings)
    sections = parse_conf((out / "extensions.conf").read_text())
    calls = dialplan_calls(sections)

    operator = [c for c in calls if c.context == "hotel-phones" and c.extension == "0"]
    after_stasis = operator[[c.app for c in operator].index("Stasis") + 1]
    assert after_stasis.app == "GotoIf"
    assert '"${STASISSTATUS}" = "FAILED"' in after_stasis.args
    assert after_stasis.args.endswith("?operator-fallback,s,1")
    fallback = [c for c in calls if c.context == "operator-fallback"]
    assert fallback[-1].app == "Goto" and fallback[-1].args == "front-desk,s,1"
    desk = [c for c in calls if c.context == "front-desk"]
    assert desk[0].app == "Dial" and desk[0].args.startswith("${FRONT_DESK}")
    globals_ = next(s for s in sections if s.name == "globals")
    front = globals_.get("front_desk")
    assert front is not None
    assert front.value == "PJSIP/frontdesk1&PJSIP/frontdesk2&PJSIP/frontdesk3"


def test_given_desk_phones_when_rendered_then_rooms_dial_each_other_and_zero_reaches_operator(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    settings = make_settings("phones")
    out = _rendered(tmp_path, settings)
    calls = dialplan_calls(parse_conf((out / "extensions.conf").read_text()))
    pjsip = parse_conf((out / "pjsip.conf").read_text())

    room_dials = {c.extension: c.args for c in calls if c.context == "hotel-phones" and c.app == "Dial"}
    for room in range(201, 261):
        assert room_dials[str(room)].startswith(f"PJSIP/{room},")
    zero = next(c for c in calls if c.context == "hotel-phones" and c.extension == "0" and c.app == "Stasis")
    assert split_args(zero.args)[:2] == [settings.asterisk.app_name, "internal"]
    endpoints = {s.name for s in pjsip if "phone-defaults" in s.templates}
    assert {str(r) for r in range(201, 261)} <= endpoints
    webrtc = next(s for s in pjsip if s.name == "webrtc-guest" and "webrtc-defaults" in s.templates)
    assert webrtc.get("context") is not None
    templ = next(s for s in pjsip if s.name == "webrtc-defaults")
    assert templ.is_template and templ.get("webrtc") is not None
    rows = (out / "desk-phones.csv").read_text().splitlines()
    passwords = [r.split(",")[2] for r in rows[1:]]
    assert len(rows) == 1 + 3 + 3 + 60 and len(set(passwords)) == len(passwords)


def test_given_twilio_trunk_when_rendered_then_origination_is_ip_matched_and_termination_authenticated(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    settings = make_settings("twilio")
    pjsip = parse_conf((_rendered(tmp_path, settings) / "pjsip.conf").read_text())

    identify = next(s for s in pjsip if s.name == "trunk-identify")
    assert [i.value for i in identify.all("match")] == settings.trunk.twilio_signalling_cidrs
    values = {(s.name, i.key): i.value for s in pjsip if s.name == "trunk" for i in s.items}
    assert values[("trunk", "outbound_auth")] == "trunk-auth"
    assert values[("trunk", "media_encryption")] == "sdes"
    assert values[("trunk", "contact")] == "sip:harbourview.pstn.twilio.com:5061;transport=tls"
    order = next(s for s in pjsip if s.name == "global").get("endpoint_identifier_order")
    assert order is not None and order.value == "username,ip,anonymous"


def test_given_broken_dialplan_when_checked_then_missing_context_is_reported_at_its_line(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    settings = make_settings("generic")
    out = _rendered(tmp_path, settings)
    ext = out / "extensions.conf"
    line = _insert_after(
        ext, "exten => *7,1,Goto(hotel-ivr-agi,s,1)", "exten => 555,1,Goto(no-such-context,s,1)"
    )

    findings = check(out, settings)

    assert Finding(str(ext), line, "Goto names context 'no-such-context', which does not exist") in findings


def test_given_wrong_app_name_when_checked_then_each_stasis_line_is_reported(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    settings = make_settings("generic")
    out = _rendered(tmp_path, settings)
    ext = out / "extensions.conf"
    text = ext.read_text()
    expected_lines = [n for n, line in enumerate(text.splitlines(), 1) if "Stasis(hotel-op-test," in line]
    ext.write_text(text.replace("Stasis(hotel-op-test,", "Stasis(hotel-operator,"))

    findings = [f for f in check(out, settings) if "Stasis app" in f.message]

    assert [f.line for f in findings] == expected_lines
    assert all(f.file == str(ext) for f in findings)
    assert (
        "Stasis app 'hotel-operator' is not ours: asterisk.app_name is 'hotel-op-test'" == findings[0].message
    )


def test_given_syntax_error_when_checked_then_asterisklint_finding_carries_the_line(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    settings = make_settings("generic")
    out = _rendered(tmp_path, settings)
    ext = out / "extensions.conf"
    line = _insert_after(ext, "exten => *7,1,Goto(hotel-ivr-agi,s,1)", "exten => 556,1,NoOp(unbalanced")

    lint = [f for f in check(out, settings) if f.message.endswith("(asterisklint)")]

    assert [f.line for f in lint] == [line]


def test_given_endpoint_context_missing_when_checked_then_pjsip_line_is_reported(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    settings = make_settings("generic")
    out = _rendered(tmp_path, settings)
    pjsip = out / "pjsip.conf"
    pjsip.write_text(pjsip.read_text().replace("context = from-trunk", "context = from-pstn"))

    findings = check(out, settings)

    assert (
        Finding(
            str(pjsip),
            _line_of(pjsip, "context = from-pstn"),
            "endpoint [trunk] context 'from-pstn' is not in extensions.conf",
        )
        in findings
    )


def test_given_ip_before_username_when_checked_then_identifier_order_is_reported(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    settings = make_settings("twilio")
    out = _rendered(tmp_path, settings)
    pjsip = out / "pjsip.conf"
    pjsip.write_text(pjsip.read_text().replace("= username,ip,anonymous", "= ip,username"))

    findings = [f for f in check(out, settings) if "endpoint_identifier_order" in f.message]

    assert [f.line for f in findings] == [_line_of(pjsip, "endpoint_identifier_order = ip,username")]


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "ari.conf",
            f"password = {'Ari-Pass-7f3k29xq'}",
            "password = hotel-secret",
            "ARI user hotel password is a well-known default password",
        ),
        ("manager.conf", "secret = Ami-Pass-c81mz0vr", "secret = ", "AMI user hotel-monitor secret is empty"),
        (
            "manager.conf",
            "write = system,reporting",
            "write = all",
            "AMI monitor user may write all: it needs only 'system,reporting' (list actions)",
        ),
        (
            "http.conf",
            "bindaddr = 127.0.0.1",
            "bindaddr = 0.0.0.0",
            "the HTTP server (ARI) listens on every interface: bind it to the service's network only",
        ),
        (
            "rtp.conf",
            "rtpend = 20000",
            "rtpend = 40100",
            "Asterisk's RTP range 10000-40100 overlaps the service's media range 40000-40999",
        ),
        (
            "ari.conf",
            "password = Ari-Pass-7f3k29xq",
            "password = Other-Pass-55555555",
            "ARI user hotel password differs from the service's settings (render again)",
        ),
    ],
)
def test_given_hand_edited_file_when_checked_then_the_mistake_is_reported_at_its_line(
    tmp_path: Path, make_settings: MakeSettings, file: str, old: str, new: str, expected: str
) -> None:
    settings = make_settings("generic")
    out = _rendered(tmp_path, settings)
    path = out / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))

    findings = check(out, settings)

    assert Finding(str(path), _line_of(path, new.strip()), expected) in findings


@pytest.mark.parametrize(
    ("section", "values", "needle"),
    [
        ("asterisk", {"ari_password": ""}, "asterisk.ari_password is empty"),
        ("asterisk", {"ari_password": "hotel-secret"}, "asterisk.ari_password is a well-known default"),
        ("asterisk", {"ami_password": "short1"}, "asterisk.ami_password is shorter than 12"),
        ("trunk", {"password": "changeme"}, "trunk.password is a well-known default"),
        ("phones", {"password": ""}, "phones.password is empty"),
        ("media", {"port_min": 15000, "port_max": 15999}, "overlaps media.port_min..port_max"),
    ],
)
def test_given_unsafe_settings_when_rendering_then_refused_and_nothing_written(
    tmp_path: Path, make_settings: MakeSettings, section: str, values: dict[str, Any], needle: str
) -> None:
    settings = make_settings("generic", **{section: values})
    out = tmp_path / "conf"

    with pytest.raises(RenderError, match=re.escape(needle)):
        render(settings, out)
    assert not out.exists()


def test_given_cli_when_render_then_check_of_a_broken_copy_exits_nonzero_with_file_line_output(
    tmp_path: Path, make_settings: MakeSettings, secrets: tuple[str, ...]
) -> None:
    settings = make_settings("phones")
    runner = CliRunner()
    out = tmp_path / "conf"

    rendered = runner.invoke(conf_app, ["render", "--out", str(out)], obj={"settings": settings})
    assert rendered.exit_code == 0, rendered.output
    assert not any(s in rendered.output for s in secrets)
    clean = runner.invoke(conf_app, ["check", str(out)], obj={"settings": settings})
    assert clean.exit_code == 0, clean.output

    ext = out / "extensions.conf"
    ext.write_text(ext.read_text().replace("Goto(front-desk,s,1)", "Goto(frontdesk,s,1)", 1))
    broken = runner.invoke(conf_app, ["check", str(out)], obj={"settings": settings})

    assert broken.exit_code == 1
    line = _line_of(ext, "Goto(frontdesk,s,1)")
    assert f"{ext}:{line}: Goto names context 'frontdesk', which does not exist" in broken.output.splitlines()


def test_given_rendered_files_when_listed_then_they_are_not_world_readable(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    out = _rendered(tmp_path, make_settings("generic"))

    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}

    assert all(mode & 0o007 == 0 for mode in modes.values()), modes


def test_given_transfer_context_not_in_dialplan_when_checked_then_it_is_reported(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    settings = make_settings("generic")
    out = _rendered(tmp_path, settings)
    assert not [f for f in check(out, settings) if "transfer_context" in f.message]  # the default exists
    settings.ivr.transfer_context = "from-internal"  # FreePBX's name, absent from our dialplan

    findings = [f for f in check(out, settings) if "transfer_context" in f.message]

    assert len(findings) == 1
    assert "'from-internal'" in findings[0].message and findings[0].file.endswith("extensions.conf")
