"""The live legs, kept from the leg events: each user's (what `subscribe_call` returns)
and each domain's (the REST API's active calls).

Only events change this state, so every surface sees the same legs in the same order
of changes as the clients that follow the events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from callboard.calls.events import (
    LegAnswered,
    LegBridged,
    LegEnded,
    LegEvent,
    LegHeld,
    LegResumed,
    LegRinging,
    LegTransferred,
    Party,
)
from callboard.events.bus import EventBus


@dataclass
class HoldSpan:
    """One time the leg was held: `stop` is None while it still is."""

    start: int
    stop: int | None = None


@dataclass
class LiveLeg:
    ringing: LegRinging
    state: str = "ringing"
    #: When the leg last changed (its last event).
    timestamp: int = 0
    answered_at: int | None = None
    bridged_at: int | None = None
    bridged_id: str | None = None
    #: The party the leg is bridged to: after a transfer, not the one it first rang.
    bridged_to: Party | None = None
    hold_since: int | None = None
    holds: list[HoldSpan] = field(default_factory=list)
    #: Where the leg's party transferred the call (it leaves once the transfer is on).
    transfer_to: str | None = None
    digits: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.timestamp = self.timestamp or self.ringing.timestamp

    @property
    def leg_id(self) -> str:
        return self.ringing.leg_id

    def hold_ms(self, now: int) -> int:
        """How long the leg has been held in all, up to `now`."""
        return sum((span.stop or now) - span.start for span in self.holds)


def _index(index: dict[int, set[str]], key: int | None, leg_id: str) -> None:
    if key is not None:
        index.setdefault(key, set()).add(leg_id)


def _unindex(index: dict[int, set[str]], key: int | None, leg_id: str) -> None:
    if key is None:
        return
    legs = index.get(key)
    if legs is not None:
        legs.discard(leg_id)
        if not legs:
            del index[key]


class LiveCalls:
    def __init__(self, bus: EventBus) -> None:
        self._legs: dict[str, LiveLeg] = {}
        self._by_user: dict[int, set[str]] = {}
        self._by_domain: dict[int, set[str]] = {}
        bus.subscribe(LegEvent, self._on_event)

    def get(self, leg_id: str) -> LiveLeg | None:
        return self._legs.get(leg_id)

    def of_user(self, user_id: int) -> list[LiveLeg]:
        """The user's live legs, oldest first."""
        return self._sorted(self._by_user.get(user_id, ()))

    def of_domain(self, domain_id: int) -> list[LiveLeg]:
        """Every live leg of the domain, oldest first."""
        return self._sorted(self._by_domain.get(domain_id, ()))

    def _sorted(self, ids: Iterable[str]) -> list[LiveLeg]:
        legs = (self._legs[i] for i in ids)
        return sorted(legs, key=lambda leg: (leg.ringing.timestamp, leg.leg_id))

    def _on_event(self, event: LegEvent) -> None:
        if isinstance(event, LegRinging):
            self._legs[event.leg_id] = LiveLeg(event)
            _index(self._by_user, event.user_id, event.leg_id)
            _index(self._by_domain, event.domain_id, event.leg_id)
            return
        leg = self._legs.get(event.leg_id)
        if leg is None:
            return
        leg.timestamp = event.timestamp
        if isinstance(event, LegAnswered):
            leg.state = "active"
            leg.answered_at = event.timestamp
        elif isinstance(event, LegBridged):
            leg.bridged_at = event.timestamp
            leg.bridged_id = event.bridged_id
            leg.bridged_to = event.other
        elif isinstance(event, LegHeld):
            leg.state = "hold"
            leg.hold_since = event.timestamp
            leg.holds.append(HoldSpan(event.timestamp))
        elif isinstance(event, LegResumed):
            leg.state = "active"
            leg.hold_since = None
            if leg.holds and leg.holds[-1].stop is None:
                leg.holds[-1].stop = event.timestamp
        elif isinstance(event, LegTransferred):
            leg.transfer_to = event.destination
        elif isinstance(event, LegEnded):
            del self._legs[event.leg_id]
            _unindex(self._by_user, leg.ringing.user_id, event.leg_id)
            _unindex(self._by_domain, leg.ringing.domain_id, event.leg_id)
