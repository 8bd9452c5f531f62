"""What the rendered Asterisk configuration grants and where a caller goes when the operator is gone.

Sources: the AMI classes are those res_pjsip / manager.c register each action with (Asterisk
source; asterisk-java's action docs say "Permission required: write=system" for PJSIPShowEndpoints),
and Asterisk grants an action when the user's write classes share ANY class with it. STASISSTATUS
and the T extension are from Asterisk's Stasis() and "Special Dialplan Extensions" documentation;
the records in ../shared/asterisk note that Stasis() fails when no ARI client is connected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ari_app.ami import monitor
from ari_app.asterisk_conf import check, render
from ari_app.asterisk_conf.parse import parse_conf

# action -> the classes Asterisk registers it with (any one of them in `write` is enough)
AMI_ACTION_CLASSES = {
    "Login": set(),
    "Logoff": set(),
    "Ping": set(),
    "CoreShowChannels": {"system", "reporting"},
    "PJSIPShowRegistrationsOutbound": {"system", "reporting"},
    "PJSIPShowContacts": {"system"},
    "PJSIPShowEndpoints": {"system"},
}
NEVER_FOR_A_MONITOR = {"all", "call", "originate", "command", "config", "agent", "user", "message"}


def _rendered(make_settings: Any, tmp_path: Path, kind: str = "phones") -> Path:
    out = tmp_path / "conf"
    render(make_settings(kind), out)
    return out


def _write_classes(conf: Path, user: str) -> set[str]:
    sections = parse_conf((conf / "manager.conf").read_text())
    sec = next(s for s in sections if s.name == user)
    return {c.strip() for item in sec.all("write") for c in item.value.split(",")}


def test_given_the_rendered_manager_conf_when_the_monitor_sends_each_action_then_its_class_is_granted(
    tmp_path: Path, make_settings: Any
) -> None:
    conf = _rendered(make_settings, tmp_path)
    granted = _write_classes(conf, make_settings("phones").asterisk.ami_user)
    assert set(monitor._LISTS) <= set(AMI_ACTION_CLASSES), "a new AMI action: add its class above"
    for action, classes in AMI_ACTION_CLASSES.items():
        assert not classes or classes & granted, f"{action} needs one of {classes}, user has {granted}"
    assert not granted & NEVER_FOR_A_MONITOR, granted
    assert check(conf, make_settings("phones")) == []


def _value(sec: Any, key: str) -> str | None:
    item = sec.get(key)
    return None if item is None else str(item.value).strip()


def test_given_the_rendered_endpoints_when_read_then_every_sip_caller_has_an_rtp_timeout(
    tmp_path: Path, make_settings: Any
) -> None:
    for kind, names in (("phones", {"phone-defaults", "webrtc-defaults"}), ("generic", {"trunk"}), ("twilio", {"trunk"})):
        conf = _rendered(make_settings, tmp_path / kind, kind)
        sections = parse_conf((conf / "pjsip.conf").read_text())
        endpoints = [s for s in sections if _value(s, "type") == "endpoint" and s.name in names]
        assert {s.name for s in endpoints} == names
        for sec in endpoints:
            assert _value(sec, "rtp_timeout") == "30", (kind, sec.name)
            assert _value(sec, "rtp_timeout_hold") == "300", (kind, sec.name)


def _context(conf: Path, name: str) -> str:
    text = (conf / "extensions.conf").read_text()
    start = text.index(f"\n[{name}]\n")
    end = text.find("\n[", start + 1)
    return text[start : end if end > 0 else None]


def test_given_the_rendered_dialplan_when_stasis_fails_or_the_operator_dies_then_the_front_desk_rings(
    tmp_path: Path, make_settings: Any
) -> None:
    conf = _rendered(make_settings, tmp_path / "generic", "generic")
    phones_conf = _rendered(make_settings, tmp_path / "phones", "phones")
    for where, ctx in ((conf, "from-trunk"), (conf, "hotel-phones"), (phones_conf, "from-webrtc")):
        body = _context(where, ctx)
        assert "Stasis(" in body, ctx
        # Stasis() fails at once when no ARI client is registered: STASISSTATUS=FAILED
        assert '"${STASISSTATUS}" = "FAILED"]?operator-fallback,s,1' in body, ctx
        # mid-call the channel stays in Stasis; the service's dead-man TIMEOUT(absolute) fires T
        assert "exten => T,1," in body and " same => n,Goto(operator-fallback,s,1)" in body, ctx
        assert "Set(TIMEOUT(absolute)=0)" in body, ctx
    assert "Goto(front-desk,s,1)" in _context(conf, "operator-fallback")
    assert "exten => i,1,Goto(front-desk,s,1)" in _context(conf, "hotel-phones")
    assert check(conf, make_settings("generic")) == []
