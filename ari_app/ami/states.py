"""What AMI's state words mean for "is it up?", shared by the monitor's health and /metrics.

Asterisk reports endpoint device states (``Not in use``, ``In use``, ``Unavailable``…, or the
DeviceStateChange spelling ``NOT_INUSE``, ``UNAVAILABLE``) and contact statuses (``Reachable``,
``NonQualified``, ``Unreachable``, ``Unknown``…). A contact that is not qualified is not known to be
down, so it counts as up; an unknown device state counts as down, since nothing vouches for it.
"""

from __future__ import annotations

_DOWN_DEVICE_STATES = frozenset({"unavailable", "invalid", "unknown", "unreachable", ""})
_UP_CONTACT_STATES = frozenset({"reachable", "nonqualified", "unqualified", "created", "updated"})


def endpoint_up(state: str) -> bool:
    return state.strip().lower() not in _DOWN_DEVICE_STATES


def contact_up(status: str) -> bool:
    return status.strip().lower() in _UP_CONTACT_STATES
