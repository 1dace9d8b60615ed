"""The live legs of each user, kept from the leg events (what `subscribe_call` returns)."""

from __future__ import annotations

from dataclasses import dataclass, field

from callboard.calls.events import (
    LegAnswered,
    LegBridged,
    LegEnded,
    LegEvent,
    LegHeld,
    LegResumed,
    LegRinging,
)
from callboard.events.bus import EventBus


@dataclass
class LiveLeg:
    ringing: LegRinging
    state: str = "ringing"
    answered_at: int | None = None
    bridged_at: int | None = None
    bridged_id: str | None = None
    hold_since: int | None = None
    digits: list[str] = field(default_factory=list)


class LiveCalls:
    def __init__(self, bus: EventBus) -> None:
        self._legs: dict[str, LiveLeg] = {}
        self._by_user: dict[int, set[str]] = {}
        bus.subscribe(LegEvent, self._on_event)

    def get(self, leg_id: str) -> LiveLeg | None:
        return self._legs.get(leg_id)

    def of_user(self, user_id: int) -> list[LiveLeg]:
        ids = self._by_user.get(user_id, ())
        return sorted((self._legs[i] for i in ids), key=lambda leg: leg.ringing.timestamp)

    def _on_event(self, event: LegEvent) -> None:
        if isinstance(event, LegRinging):
            self._legs[event.leg_id] = LiveLeg(event)
            if event.user_id is not None:
                self._by_user.setdefault(event.user_id, set()).add(event.leg_id)
            return
        leg = self._legs.get(event.leg_id)
        if leg is None:
            return
        if isinstance(event, LegAnswered):
            leg.state = "active"
            leg.answered_at = event.timestamp
        elif isinstance(event, LegBridged):
            leg.bridged_at = event.timestamp
            leg.bridged_id = event.bridged_id
        elif isinstance(event, LegHeld):
            leg.state = "hold"
            leg.hold_since = event.timestamp
        elif isinstance(event, LegResumed):
            leg.state = "active"
            leg.hold_since = None
        elif isinstance(event, LegEnded):
            del self._legs[event.leg_id]
            if event.user_id is not None:
                legs = self._by_user.get(event.user_id)
                if legs is not None:
                    legs.discard(event.leg_id)
                    if not legs:
                        del self._by_user[event.user_id]
