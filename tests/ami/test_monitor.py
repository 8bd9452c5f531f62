"""The AMI monitor against a fake Asterisk replaying ``records/ami-session.txt`` over real TCP."""

from __future__ import annotations

from typing import Any

import pytest
from amikit import make_monitor, running

from ari_app.ami import AmiMessage


async def test_given_recorded_session_when_monitor_follows_the_call_then_channel_count_goes_0_1_0(
    fake_ami: Any, ami_record: Any, wait_until: Any
) -> None:
    login, ping, csc1, csc2, _logoff = ami_record.segments
    fake_ami.answers["Login"] = [login[1]]
    fake_ami.answers["CoreShowChannels"] = [csc2[1], csc1[1][:3], csc2[1]]
    call_starts = ping[1][1:]
    call_ends = csc1[1][3:]

    async with running(make_monitor(fake_ami.port)) as mon:
        await wait_until(lambda: mon.logged_in and len(fake_ami.actions("PJSIPShowContacts")) == 1, "login and first sync")
        h = mon.health()
        assert h["banner"] == "Asterisk Call Manager/11.0.0"
        assert h["fully_booted"] is True
        assert h["active_channels"] == 0

        await fake_ami.push(call_starts)
        await wait_until(lambda: mon.health()["active_channels"] == 1, "Newchannel counted")
        assert mon.health()["devices"] == {"PJSIP/guest": "INUSE"}

        await mon.refresh_channels()  # CoreShowChannels answered with the recorded csc-1 list
        assert mon.health()["channels"] == ["PJSIP/guest-0000000f"]

        await fake_ami.push(call_ends)
        await wait_until(lambda: mon.health()["active_channels"] == 0, "Hangup counted")
        assert mon.health()["devices"] == {"PJSIP/guest": "UNAVAILABLE"}

        await mon.refresh_channels()  # recorded csc-2-after-hangup: empty
        assert mon.health()["active_channels"] == 0
        assert mon.events_seen >= len(call_starts) + len(call_ends)

    sent = fake_ami.received
    assert [m.get("Action") for m in sent[:2]] == ["Login", "CoreShowChannels"]
    assert sent[0].get("Username") == "hotel" and sent[0].get("Events") == "on"
    assert sent[-1].get("Action") == "Logoff"


async def test_given_trunk_and_contact_events_when_received_then_health_shows_registration_and_endpoint_state(
    fake_ami: Any, ami_record: Any, wait_until: Any
) -> None:
    fake_ami.answers["Login"] = [ami_record.segments[0][1]]
    async with running(make_monitor(fake_ami.port)) as mon:
        # the events come after the whole first sync: a list answered after them is the newer
        # picture and replaces them. PJSIPShowEndpoints is its last action, and the fake writes each
        # answer as it records the action, so that answer is on the stream ahead of the events
        await wait_until(lambda: len(fake_ami.actions("PJSIPShowEndpoints")) == 1, "first sync")
        await fake_ami.push(
            [
                AmiMessage.of({"Event": "Registry", "ChannelType": "PJSIP", "Username": "hotel", "Domain": "sip:trunk.example.net", "Status": "Registered"}),
                AmiMessage.of({"Event": "ContactStatus", "URI": "sip:guest@127.0.0.1:5070", "ContactStatus": "Reachable", "AOR": "guest", "EndpointName": "guest"}),
                AmiMessage.of({"Event": "PeerStatus", "ChannelType": "PJSIP", "Peer": "PJSIP/trunk", "PeerStatus": "Reachable"}),
            ]
        )
        await wait_until(lambda: "trunk" in mon.endpoints, "events applied")
        h = mon.health()
        assert h["registrations"] == {"sip:trunk.example.net": "Registered"}
        assert h["trunks_registered"] is True
        assert h["contacts"] == {"sip:guest@127.0.0.1:5070": "Reachable"}
        await fake_ami.push(
            [
                AmiMessage.of({"Event": "Registry", "ChannelType": "PJSIP", "Domain": "sip:trunk.example.net", "Status": "Rejected", "Cause": "403"}),
                AmiMessage.of({"Event": "ContactStatus", "URI": "sip:guest@127.0.0.1:5070", "ContactStatus": "Removed", "AOR": "guest"}),
            ]
        )
        await wait_until(lambda: not mon.contacts, "contact removed")
        assert mon.health()["trunks_registered"] is False


async def test_given_outbound_registrations_list_when_synced_then_initial_state_known(
    fake_ami: Any, ami_record: Any, wait_until: Any
) -> None:
    fake_ami.answers["Login"] = [ami_record.segments[0][1]]
    fake_ami.answers["PJSIPShowRegistrationsOutbound"] = [
        [
            AmiMessage.of({"Response": "Success", "ActionID": "x", "EventList": "start", "Message": "Following are Events for each Outbound registration"}),
            AmiMessage.of({"Event": "OutboundRegistrationDetail", "ActionID": "x", "ObjectType": "registration", "ObjectName": "twilio", "Status": "Registered"}),
            AmiMessage.of({"Event": "OutboundRegistrationDetailComplete", "ActionID": "x", "EventList": "Complete", "Registered": "1", "NotRegistered": "0"}),
        ]
    ]
    async with running(make_monitor(fake_ami.port)) as mon:
        await wait_until(lambda: mon.registrations == {"twilio": "Registered"}, "registrations synced")


async def test_given_connection_dropped_after_login_when_monitor_runs_then_it_reconnects_and_logs_in_again(
    fake_ami: Any, ami_record: Any, wait_until: Any
) -> None:
    login = ami_record.segments[0][1]
    fake_ami.answers["Login"] = [login, login]
    fake_ami.close_after_login = 1
    async with running(make_monitor(fake_ami.port)) as mon:
        await wait_until(lambda: len(fake_ami.actions("Login")) == 2 and mon.logged_in, "second login")
        assert fake_ami.connections == 2
        assert mon.health()["reconnects"] >= 1


async def test_given_wrong_secret_when_login_refused_then_error_in_health_and_monitor_keeps_trying(
    fake_ami: Any, wait_until: Any
) -> None:
    refused = [AmiMessage.of({"Response": "Error", "ActionID": "x", "Message": "Authentication failed"})]
    fake_ami.answers["Login"] = [refused, refused, refused]
    async with running(make_monitor(fake_ami.port, reconnect_max_s=0.02)) as mon:
        await wait_until(lambda: len(fake_ami.actions("Login")) >= 2, "login retried")
        h = mon.health()
        assert h["logged_in"] is False
        assert h["last_error"] == "Authentication failed"
        assert "hotel-secret" not in repr(h)


async def test_given_nothing_listening_when_health_asked_then_disconnected_summary_not_an_exception(
    unused_tcp_port: int, wait_until: Any
) -> None:
    async with running(make_monitor(unused_tcp_port)) as mon:
        await wait_until(lambda: mon.health()["last_error"] is not None, "connect failure noted")
        h = mon.health()
        assert h["connected"] is False and h["active_channels"] == 0


async def test_given_periodic_ping_and_poll_when_time_passes_then_both_actions_sent(
    fake_ami: Any, ami_record: Any, wait_until: Any
) -> None:
    fake_ami.answers["Login"] = [ami_record.segments[0][1]]
    async with running(make_monitor(fake_ami.port, ping_interval_s=0.01, poll_interval_s=0.01)):
        await wait_until(
            lambda: len(fake_ami.actions("Ping")) >= 2 and len(fake_ami.actions("CoreShowChannels")) >= 3, "ticks"
        )


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
