"""The in-process event bus.

Publishing is synchronous and cheap: every subscriber is called in turn with the event,
in the order of publication. Subscribers must not block: a surface that does I/O puts
the event on its own queue. A subscriber that raises is logged and skipped, so one bad
surface never stops the call engine or the others.

Publishing costs what the event's own subscribers cost, not what all subscribers do:
each open client socket subscribes (to its token's revocation, say), and the call
engine publishes on every call state change (bench/events.py measured 39 µs a leg
event with 1,000 sockets when every publication tested every subscriber).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: list[tuple[type, Handler]] = []
        #: Per concrete event type, its subscribers in the order they subscribed; made on
        #: the type's first publication, forgotten when anyone (un)subscribes.
        self._matching: dict[type, tuple[Handler, ...]] = {}

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call `handler` for every published event of `event_type`; returns an unsubscriber."""
        entry = (event_type, handler)
        self._handlers.append(entry)
        self._matching.clear()

        def unsubscribe() -> None:
            if entry in self._handlers:
                self._handlers.remove(entry)
                self._matching.clear()

        return unsubscribe

    def publish(self, event: object) -> None:
        kind = type(event)
        handlers = self._matching.get(kind)
        if handlers is None:
            handlers = tuple(h for t, h in self._handlers if issubclass(kind, t))
            self._matching[kind] = handlers
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event subscriber %r failed on %r", handler, kind.__name__)
