"""Live legs and history records in Webitel's shapes (`ActiveCallOut`, `HistoryCallOut`).

Timestamps are millisecond strings, durations whole seconds; a party is `{type, number,
id, name}` with `type` `user` for a user of the domain and `dest` for anyone else.
"""

from __future__ import annotations

from typing import Any

from callboard.calls.events import Direction, Party, PartyKind
from callboard.calls.history_search import HistoryRow
from callboard.realtime.live import LiveLeg

_ENDPOINT_TYPES = {PartyKind.USER.value: "user"}


def _endpoint(kind: str, number: str, name: str, user_id: int | None) -> dict[str, str]:
    return {
        "type": _ENDPOINT_TYPES.get(kind, "dest"),
        "number": number,
        "id": "" if user_id is None else str(user_id),
        "name": name or number,
    }


def _party(party: Party) -> dict[str, str]:
    return _endpoint(party.kind.value, party.number, party.name, party.user_id)


def _ms(value: int | None) -> str | None:
    return None if value is None else str(value)


def render_active(leg: LiveLeg, node_id: str, now: int) -> dict[str, Any]:
    """One live leg as `ActiveCallOut`, its durations counted up to `now` (ms)."""
    ringing = leg.ringing
    caller, callee = ringing.caller, ringing.callee
    # Once bridged, the far party is the one the leg talks to (after a transfer, the
    # new one), as the SDK's `bridge` event makes it.
    if leg.bridged_to is not None:
        if ringing.direction is Direction.OUTBOUND:
            callee = leg.bridged_to
        else:
            caller = leg.bridged_to
    own = caller if ringing.direction is Direction.OUTBOUND else callee
    answered = leg.answered_at
    item: dict[str, Any] = {
        "id": ringing.leg_id,
        "app_id": node_id,
        "type": "call",
        "state": leg.state,
        "timestamp": str(leg.timestamp),
        "parent_id": ringing.parent_id,
        "user": None
        if ringing.user_id is None
        else {"id": str(ringing.user_id), "name": own.name or own.number},
        "extension": own.number if ringing.user_id is not None else None,
        "direction": ringing.direction.value,
        "destination": ringing.destination,
        "from": _party(caller),
        "to": _party(callee),
        "variables": dict(ringing.variables),
        "created_at": str(ringing.timestamp),
        "answered_at": _ms(answered),
        "bridged_at": _ms(leg.bridged_at),
        "bridged_id": leg.bridged_id,
        "duration": max(0, now - ringing.timestamp) // 1000,
        "wait_sec": max(0, (answered or now) - ringing.timestamp) // 1000,
        "bill_sec": 0 if answered is None else max(0, now - answered) // 1000,
        "hold_sec": leg.hold_ms(now) // 1000,
        "hold": [
            {
                "start": str(span.start),
                "stop": _ms(span.stop),
                "sec": ((span.stop or now) - span.start) // 1000,
            }
            for span in leg.holds
        ],
        "blind_transfer": leg.transfer_to,
    }
    return item


def render_history(row: HistoryRow) -> dict[str, Any]:
    """One finished leg of the call history as `HistoryCallOut`."""
    r = row.record
    outbound = r.direction == Direction.OUTBOUND.value
    own_number, own_name = (r.from_number, r.from_name) if outbound else (r.to_number, r.to_name)
    wait_ms = (r.answered_at if r.answered_at is not None else r.hangup_at) - r.created_at
    return {
        "id": r.id,
        "type": "call",
        "parent_id": r.parent_id,
        "user": None if r.user_id is None else {"id": str(r.user_id), "name": own_name},
        "extension": own_number if r.user_id is not None else None,
        "gateway": None
        if r.trunk_id is None
        else {"id": str(r.trunk_id), "name": row.gateway_name or None},
        "direction": r.direction,
        "destination": r.destination,
        "from": _endpoint(r.from_type, r.from_number, r.from_name, r.from_user_id),
        "to": _endpoint(r.to_type, r.to_number, r.to_name, r.to_user_id),
        "from_number": r.from_number,
        "to_number": r.to_number,
        "variables": dict(r.variables or {}),
        "created_at": str(r.created_at),
        "answered_at": _ms(r.answered_at),
        "bridged_at": _ms(r.bridged_at),
        "hangup_at": str(r.hangup_at),
        "hangup_by": r.hangup_by,
        "cause": r.cause,
        "sip_code": r.sip_code,
        "duration": r.duration,
        "wait_sec": max(0, wait_ms) // 1000,
        "bill_sec": r.bill_sec,
        "talk_sec": max(0, r.bill_sec - r.hold_sec),
        "hold_sec": r.hold_sec,
        "transfer_to": r.transfer_to,
        "has_children": row.has_children,
    }
