"""The hub: from the event bus to each user's numbered stream and live subscribers."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from callboard.calls.events import LegEvent
from callboard.events.bus import EventBus

log = logging.getLogger(__name__)

Subscriber = Callable[["UserEvent"], bool]


@dataclass(frozen=True, slots=True)
class UserEvent:
    """One event of one user's stream; `seq` counts from 1 and never skips."""

    seq: int
    user_id: int
    event: LegEvent


class UserStream:
    def __init__(self, keep: int) -> None:
        self.seq = 0
        self.recent: deque[UserEvent] = deque(maxlen=keep)
        self.subscribers: list[Subscriber] = []


class Hub:
    """Numbers each user's events and hands them to the user's subscribers.

    A subscriber is a non-blocking callable; it returns False when it cannot keep up
    (its queue is full), and is then dropped: the client reconnects and replays.
    """

    def __init__(self, bus: EventBus, *, keep: int = 1000) -> None:
        self.keep = keep
        self._streams: dict[int, UserStream] = {}
        bus.subscribe(LegEvent, self._on_leg_event)

    def _stream(self, user_id: int) -> UserStream:
        stream = self._streams.get(user_id)
        if stream is None:
            stream = self._streams[user_id] = UserStream(self.keep)
        return stream

    def _on_leg_event(self, event: LegEvent) -> None:
        if event.user_id is not None:
            self.publish(event.user_id, event)

    def publish(self, user_id: int, event: LegEvent) -> UserEvent:
        stream = self._stream(user_id)
        stream.seq += 1
        numbered = UserEvent(stream.seq, user_id, event)
        stream.recent.append(numbered)
        for subscriber in tuple(stream.subscribers):
            try:
                keeping_up = subscriber(numbered)
            except Exception:
                log.exception("event subscriber of user %s failed", user_id)
                keeping_up = False
            if not keeping_up:
                self.unsubscribe(user_id, subscriber)
        return numbered

    def subscribe(self, user_id: int, subscriber: Subscriber) -> int:
        """Start delivering; returns the sequence number of the last event so far."""
        stream = self._stream(user_id)
        stream.subscribers.append(subscriber)
        return stream.seq

    def unsubscribe(self, user_id: int, subscriber: Subscriber) -> None:
        stream = self._streams.get(user_id)
        if stream is not None and subscriber in stream.subscribers:
            stream.subscribers.remove(subscriber)

    def since(self, user_id: int, seq: int) -> list[UserEvent] | None:
        """The events after `seq`, in order; None when some were already forgotten."""
        stream = self._streams.get(user_id)
        if stream is None:
            return [] if seq == 0 else None
        if seq >= stream.seq:
            return []
        recent = stream.recent
        if not recent or recent[0].seq > seq + 1:
            return None
        return [event for event in recent if event.seq > seq]

    def last_seq(self, user_id: int) -> int:
        stream = self._streams.get(user_id)
        return stream.seq if stream is not None else 0
