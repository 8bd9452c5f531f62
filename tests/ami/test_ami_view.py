"""The AMI view of trunks, endpoints and contacts (issue 16 D12, issue 17 D11).

Seen on a real Asterisk 22: /health showed no endpoints while Asterisk had 7, claimed the trunks were
registered with no registration configured, and piled up ``UnicastRTP/…: UNKNOWN`` devices. The list
actions and event fields used here are Asterisk's documented AMI ones (PJSIPShowEndpoints →
EndpointList/EndpointListComplete with ObjectName and DeviceState; PJSIPShowContacts → ContactList
with Uri, Status and Endpoint; DeviceStateChange with Device and State as in records/ami-session.txt).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from amikit import make_monitor, running

from ari_app.ami import AmiMessage, AmiMonitor
from ari_app.metrics import Metrics, ServerView


def listing(complete: str, items: list[dict[str, str]]) -> list[AmiMessage]:
    head = AmiMessage.of({"Response": "Success", "ActionID": "x", "EventList": "start", "Message": "follows"})
    body = [AmiMessage.of({**item, "ActionID": "x"}) for item in items]
    tail = AmiMessage.of({"Event": complete, "ActionID": "x", "EventList": "Complete", "ListItems": str(len(items))})
    return [head, *body, tail]


def endpoint(name: str, state: str) -> dict[str, str]:
    return {"Event": "EndpointList", "ObjectType": "endpoint", "ObjectName": name, "Transport": "transport-udp",
            "Aor": name, "Auths": "", "OutboundAuths": "", "DeviceState": state, "ActiveChannels": "0"}


def scrape(mon: AmiMonitor) -> str:
    metrics = Metrics()
    metrics.watch(lambda: [ServerView("pbx1", True, 0, 0, 0)], mon.health)
    return metrics.render().decode()


def test_given_no_ami_login_when_health_and_metrics_read_then_trunks_are_unknown_not_registered() -> None:
    mon = make_monitor(1)
    assert mon.health()["trunks_registered"] is None
    text = scrape(mon)
    assert "hotel_trunks_registered " not in text
    assert "hotel_ami_connected 0.0" in text


async def test_given_logged_in_with_no_registrations_configured_then_trunks_registered_stays_unknown(
    fake_ami: Any, ami_record: Any, wait_until: Any
) -> None:
    fake_ami.answers["Login"] = [ami_record.segments[0][1]]
    async with running(make_monitor(fake_ami.port)) as mon:
        await wait_until(lambda: len(fake_ami.actions("PJSIPShowEndpoints")) == 1 and mon.logged_in, "first sync")
        assert mon.health()["trunks_registered"] is None
        assert "hotel_trunks_registered " not in scrape(mon)


async def test_given_seven_endpoints_and_a_trunk_contact_when_synced_then_health_and_metrics_show_them(
    fake_ami: Any, ami_record: Any, wait_until: Any
) -> None:
    fake_ami.answers["Login"] = [ami_record.segments[0][1]]
    names = ["trunk", "frontdesk1", "frontdesk2", "room101", "room102", "webrtc", "guest"]
    states = ["Not in use", "Not in use", "Unavailable", "In use", "Unavailable", "Unavailable", "Not in use"]
    fake_ami.answers["PJSIPShowEndpoints"] = [
        listing("EndpointListComplete", [endpoint(n, s) for n, s in zip(names, states, strict=True)])
    ]
    fake_ami.answers["PJSIPShowContacts"] = [
        listing("ContactListComplete", [
            {"Event": "ContactList", "ObjectType": "contact", "ObjectName": "trunk@@a1b2", "Uri": "sip:sip.carrier.example:5060",
             "Endpoint": "trunk", "Status": "Reachable", "RoundtripUsec": "12034"},
            {"Event": "ContactList", "ObjectType": "contact", "ObjectName": "frontdesk1@@c3d4", "Uri": "sip:frontdesk1@10.0.0.21:5062",
             "Endpoint": "frontdesk1", "Status": "Unreachable", "RoundtripUsec": "N/A"},
        ])
    ]
    async with running(make_monitor(fake_ami.port)) as mon:
        await wait_until(lambda: len(mon.endpoints) == 7, "endpoints synced")
        h = mon.health()
        assert h["endpoints"]["room101"] == "In use"
        assert h["contacts"]["sip:sip.carrier.example:5060"] == "Reachable"
        assert h["contact_endpoints"]["sip:sip.carrier.example:5060"] == "trunk"
        text = scrape(mon)
    assert 'hotel_pjsip_endpoint_up{endpoint="trunk"} 1.0' in text
    assert 'hotel_pjsip_endpoint_up{endpoint="frontdesk2"} 0.0' in text
    assert text.count("hotel_pjsip_endpoint_up{") == 7
    assert 'hotel_pjsip_contact_up{contact="sip:sip.carrier.example:5060",endpoint="trunk"} 1.0' in text
    assert 'hotel_pjsip_contact_up{contact="sip:frontdesk1@10.0.0.21:5062",endpoint="frontdesk1"} 0.0' in text


async def test_given_ami_rights_refused_when_listing_then_health_names_the_action_and_one_warning_says_what_to_grant(
    fake_ami: Any, ami_record: Any, wait_until: Any, caplog: pytest.LogCaptureFixture
) -> None:
    denied = [AmiMessage.of({"Response": "Error", "ActionID": "x", "Message": "Permission denied"})]
    fake_ami.answers["Login"] = [ami_record.segments[0][1]]
    fake_ami.answers["PJSIPShowContacts"] = [denied, denied]
    fake_ami.answers["PJSIPShowEndpoints"] = [denied, denied]
    caplog.set_level(logging.INFO, logger="ari_app.ami.monitor")
    async with running(make_monitor(fake_ami.port)) as mon:
        await wait_until(lambda: len(fake_ami.actions("PJSIPShowEndpoints")) == 1, "first sync")
        await wait_until(lambda: "PJSIPShowEndpoints" in mon.refused, "refusal noted")
        await mon.refresh()
        h = mon.health()
    assert h["refused_actions"] == {"PJSIPShowContacts": "Permission denied", "PJSIPShowEndpoints": "Permission denied"}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "refused" in r.getMessage()]
    assert len(warnings) == 2  # one per action, not one per poll
    assert all("manager.conf" in r.getMessage() for r in warnings)


async def test_given_externalmedia_device_states_when_calls_come_and_go_then_no_unicastrtp_devices_pile_up(
    fake_ami: Any, ami_record: Any, wait_until: Any
) -> None:
    fake_ami.answers["Login"] = [ami_record.segments[0][1]]
    async with running(make_monitor(fake_ami.port)) as mon:
        await wait_until(lambda: len(fake_ami.actions("PJSIPShowEndpoints")) == 1, "first sync")
        events = []
        for port in range(40000, 40010):
            for state in ("INUSE", "NOT_INUSE", "UNKNOWN"):
                events.append(AmiMessage.of({"Event": "DeviceStateChange", "Privilege": "call,all",
                                             "Device": f"UnicastRTP/127.0.0.1:{port}", "State": state}))
        events.append(AmiMessage.of({"Event": "DeviceStateChange", "Privilege": "call,all", "Device": "PJSIP/guest", "State": "INUSE"}))
        await fake_ami.push(events)
        await wait_until(lambda: "PJSIP/guest" in mon.devices, "events applied")
        assert mon.health()["devices"] == {"PJSIP/guest": "INUSE"}
        assert mon.health()["endpoints"]["guest"] == "INUSE"


async def test_given_registration_rejected_then_metric_per_registration_and_summary_both_down(
    fake_ami: Any, ami_record: Any, wait_until: Any
) -> None:
    fake_ami.answers["Login"] = [ami_record.segments[0][1]]
    fake_ami.answers["PJSIPShowRegistrationsOutbound"] = [listing("OutboundRegistrationDetailComplete", [
        {"Event": "OutboundRegistrationDetail", "ObjectType": "registration", "ObjectName": "twilio", "Status": "Registered"},
        {"Event": "OutboundRegistrationDetail", "ObjectType": "registration", "ObjectName": "backup", "Status": "Rejected"},
    ])]
    async with running(make_monitor(fake_ami.port)) as mon:
        await wait_until(lambda: len(mon.registrations) == 2, "registrations synced")
        assert mon.health()["trunks_registered"] is False
        text = scrape(mon)
    assert "hotel_trunks_registered 0.0" in text
    assert 'hotel_trunk_registration_up{registration="twilio"} 1.0' in text
    assert 'hotel_trunk_registration_up{registration="backup"} 0.0' in text
