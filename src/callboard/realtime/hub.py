"""The hub: from the event bus to each user's numbered stream and live subscribers.

A user's stream carries the leg events of the user's calls and the status changes of
the user's own agent, plus those of the agents the user watches (a supervisor's
`cc_agent_subscribe_status`) and of the users whose calls the user watches
(`subscribe_user_calls`): one numbering for all of them, so a client that
reconnects replays everything it missed, in order, with `since()`.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from callboard.callcenter.events import AgentStatusChanged
from callboard.calls.events import LegEvent
from callboard.events.bus import EventBus

log = logging.getLogger(__name__)

Subscriber = Callable[["UserEvent"], bool]
#: What a user's stream carries.
StreamEvent = LegEvent | AgentStatusChanged


@dataclass(frozen=True, slots=True)
class UserEvent:
    """One event of one user's stream; `seq` counts from 1 and never skips."""

    seq: int
    user_id: int
    event: StreamEvent


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
        #: Who watches which agent, and whose agents: {agent or domain id: {user id: how
        #: many of the user's connections asked}}.
        self._agent_watchers: dict[int, Counter[int]] = {}
        self._domain_watchers: dict[int, Counter[int]] = {}
        #: Who watches whose calls (a supervisor's `subscribe_user_calls`): {watched user
        #: id: {watcher user id: how many of the watcher's connections asked}}.
        self._call_watchers: dict[int, Counter[int]] = {}
        bus.subscribe(LegEvent, self._on_leg_event)
        bus.subscribe(AgentStatusChanged, self._on_agent_status)

    def _stream(self, user_id: int) -> UserStream:
        stream = self._streams.get(user_id)
        if stream is None:
            stream = self._streams[user_id] = UserStream(self.keep)
        return stream

    def _on_leg_event(self, event: LegEvent) -> None:
        if event.user_id is not None:
            self.publish(event.user_id, event)
            for watcher in tuple(self._call_watchers.get(event.user_id, ())):
                if watcher != event.user_id:
                    self.publish(watcher, event)

    def _on_agent_status(self, event: AgentStatusChanged) -> None:
        users = [event.user_id]
        users += self._agent_watchers.get(event.agent_id, ())
        users += self._domain_watchers.get(event.domain_id, ())
        for user_id in dict.fromkeys(users):
            self.publish(user_id, event)

    def watch_agent(self, user_id: int, agent_id: int) -> Callable[[], None]:
        """Put the status changes of agent `agent_id` on `user_id`'s stream until the
        returned function is called (once per call of this; the caller checked the
        permission)."""
        return _watch(self._agent_watchers, agent_id, user_id)

    def watch_domain_agents(self, user_id: int, domain_id: int) -> Callable[[], None]:
        """Like `watch_agent`, for every agent of the domain."""
        return _watch(self._domain_watchers, domain_id, user_id)

    def watch_user_calls(self, watcher_id: int, user_id: int) -> Callable[[], None]:
        """Put the leg events of `user_id`'s calls on `watcher_id`'s stream too, until
        the returned function is called (the caller checked the permission). On the
        watcher's stream they are told apart by the leg's `user_id`."""
        return _watch(self._call_watchers, user_id, watcher_id)

    def call_watchers(self, user_id: int) -> frozenset[int]:
        """The users who watch `user_id`'s calls."""
        return frozenset(self._call_watchers.get(user_id, ()))

    def watchers(self, agent_id: int, domain_id: int) -> frozenset[int]:
        """The users who watch agent `agent_id` (it, or every agent of `domain_id`)."""
        return frozenset(self._agent_watchers.get(agent_id, ())) | frozenset(
            self._domain_watchers.get(domain_id, ())
        )

    def publish(self, user_id: int, event: StreamEvent) -> UserEvent:
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


def _watch(watchers: dict[int, Counter[int]], key: int, user_id: int) -> Callable[[], None]:
    counts = watchers.setdefault(key, Counter())
    counts[user_id] += 1
    done = False

    def unwatch() -> None:
        nonlocal done
        if done:
            return
        done = True
        counts[user_id] -= 1
        if counts[user_id] <= 0:
            del counts[user_id]
        if not counts and watchers.get(key) is counts:
            del watchers[key]

    return unwatch
