"""Leg events as Webitel call events, and live legs as `subscribe_call` items.

Only the event names the SDK handles are ever produced (ringing, active, bridge, hold,
dtmf, hangup): any other name makes the published client throw.
"""

from __future__ import annotations

from typing import Any

from callboard.calls.events import (
    LegAnswered,
    LegBridged,
    LegDtmf,
    LegEnded,
    LegEvent,
    LegHeld,
    LegResumed,
    LegRinging,
    Party,
    PartyKind,
)
from callboard.realtime.live import LiveLeg

_TYPES = {PartyKind.USER: "user", PartyKind.TRUNK: "dest", PartyKind.EXTERNAL: "dest"}


def party(value: Party) -> dict[str, str]:
    return {
        "type": _TYPES[value.kind],
        "number": value.number,
        "name": value.name or value.number,
        "id": "" if value.user_id is None else str(value.user_id),
    }


def ringing_data(event: LegRinging) -> dict[str, Any]:
    """`from` is the caller and `to` the callee, whichever side the leg's user is on."""
    data: dict[str, Any] = {
        "direction": event.direction.value,
        "destination": event.destination,
        "from": party(event.caller),
        "to": party(event.callee),
        "payload": dict(event.variables),
        "sip_id": event.sip_call_id,
        "params": dict(event.params),
    }
    if event.user_id is not None:
        data["user_id"] = event.user_id
    if event.parent_id is not None:
        data["parent_id"] = event.parent_id
    return data


def call_event(event: LegEvent, node_id: str) -> dict[str, Any] | None:
    """The `call` event's payload for a leg event; None for changes the SDK has no name for."""
    name: str
    data: dict[str, Any] | None = None
    if isinstance(event, LegRinging):
        name, data = "ringing", ringing_data(event)
    elif isinstance(event, LegAnswered | LegResumed):
        name = "active"
    elif isinstance(event, LegBridged):
        name, data = "bridge", {"bridged_id": event.bridged_id, "to": party(event.other)}
    elif isinstance(event, LegHeld):
        name = "hold"
    elif isinstance(event, LegDtmf):
        name, data = "dtmf", {"digit": event.digit}
    elif isinstance(event, LegEnded):
        name, data = "hangup", {"cause": event.cause.value, "sip": event.sip_code}
    else:
        return None
    call: dict[str, Any] = {
        "id": event.leg_id,
        "event": name,
        "timestamp": str(event.timestamp),
        "domain_id": str(event.domain_id),
        "user_id": "" if event.user_id is None else str(event.user_id),
        "app_id": node_id,
    }
    if data is not None:
        call["data"] = data
    return {"call": call}


def call_item(leg: LiveLeg, node_id: str) -> dict[str, Any]:
    """A live leg as a `subscribe_call` item, from which the SDK rebuilds the call."""
    event = leg.ringing
    data = ringing_data(event)
    item: dict[str, Any] = {
        "id": event.leg_id,
        "app_id": node_id,
        "state": leg.state,
        "timestamp": leg.ringing.timestamp,
        "type": "call",
        "direction": data["direction"],
        "destination": data["destination"],
        "from": data["from"],
        "to": data["to"],
        "variables": data["payload"],
        "created_at": event.timestamp,
        "duration": 0,
        "hold_sec": 0,
    }
    if event.parent_id is not None:
        item["parent_id"] = event.parent_id
    if leg.answered_at is not None:
        item["answered_at"] = leg.answered_at
    if leg.bridged_at is not None:
        item["bridged_at"] = leg.bridged_at
    return item
