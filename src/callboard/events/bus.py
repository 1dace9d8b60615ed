"""The in-process event bus.

Publishing is synchronous and cheap: every subscriber is called in turn with the event,
in the order of publication. Subscribers must not block: a surface that does I/O puts
the event on its own queue. A subscriber that raises is logged and skipped, so one bad
surface never stops the call engine or the others.
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

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call `handler` for every published event of `event_type`; returns an unsubscriber."""
        entry = (event_type, handler)
        self._handlers.append(entry)

        def unsubscribe() -> None:
            if entry in self._handlers:
                self._handlers.remove(entry)

        return unsubscribe

    def publish(self, event: object) -> None:
        for event_type, handler in tuple(self._handlers):
            if isinstance(event, event_type):
                try:
                    handler(event)
                except Exception:
                    log.exception("event subscriber %r failed on %r", handler, type(event).__name__)
