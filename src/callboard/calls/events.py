"""What the call engine reports. One event per change of one leg.

A call is made of legs: the caller's leg and one leg per party rung. Each leg belongs to
at most one user, and it is the unit every client sees as "a call" (Webitel's call
events, the CTI connectors' call objects, a history record).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from callboard.calls.causes import HangupCause


class Direction(StrEnum):
    """Seen from the leg's own party: a caller's leg is outbound, a callee's inbound."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class PartyKind(StrEnum):
    USER = "user"
    TRUNK = "trunk"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class Party:
    number: str
    name: str = ""
    kind: PartyKind = PartyKind.EXTERNAL
    user_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LegEvent:
    leg_id: str
    call_id: str
    domain_id: int
    user_id: int | None
    timestamp: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LegRinging(LegEvent):
    """A leg was created and is alerting (the first event of every leg)."""

    direction: Direction
    caller: Party
    callee: Party
    destination: str
    sip_call_id: str
    parent_id: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class LegAnswered(LegEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class LegBridged(LegEvent):
    bridged_id: str
    other: Party


@dataclass(frozen=True, slots=True, kw_only=True)
class LegHeld(LegEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class LegResumed(LegEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class LegDtmf(LegEvent):
    digit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegTransferred(LegEvent):
    destination: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegRecord:
    """Everything a call-history record keeps about a finished leg."""

    leg_id: str
    call_id: str
    parent_id: str | None
    domain_id: int
    user_id: int | None
    direction: Direction
    caller: Party
    callee: Party
    destination: str
    sip_call_id: str
    created_at: int
    answered_at: int | None
    bridged_at: int | None
    hangup_at: int
    hold_sec: int
    cause: HangupCause
    sip_code: int
    hangup_by: str
    trunk_id: int | None = None
    transfer_to: str | None = None
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class LegEnded(LegEvent):
    cause: HangupCause
    sip_code: int
    record: LegRecord
