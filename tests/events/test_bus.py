"""The event bus: who gets which event, in which order, as subscriptions come and go."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from callboard.events.bus import EventBus


@dataclass
class Base:
    n: int


@dataclass
class Child(Base):
    pass


@dataclass
class Other:
    n: int


def test_each_event_reaches_its_subscribers_in_the_order_they_subscribed() -> None:
    bus = EventBus()
    got: list[str] = []
    bus.subscribe(Child, lambda e: got.append(f"child {e.n}"))
    bus.subscribe(Base, lambda e: got.append(f"base {e.n}"))
    bus.subscribe(Other, lambda e: got.append(f"other {e.n}"))
    bus.subscribe(Child, lambda e: got.append(f"child again {e.n}"))
    bus.publish(Child(1))
    bus.publish(Base(2))
    bus.publish(Other(3))
    bus.publish(Child(4))
    assert got == [
        "child 1",
        "base 1",
        "child again 1",
        "base 2",
        "other 3",
        "child 4",
        "base 4",
        "child again 4",
    ]


def test_subscribing_and_unsubscribing_between_publications_take_effect() -> None:
    bus = EventBus()
    got: list[str] = []
    first = bus.subscribe(Base, lambda e: got.append(f"first {e.n}"))
    bus.publish(Child(1))
    second = bus.subscribe(Child, lambda e: got.append(f"second {e.n}"))
    bus.publish(Child(2))
    first()
    bus.publish(Child(3))
    second()
    bus.publish(Child(4))
    first()  # twice is harmless
    bus.subscribe(Base, lambda e: got.append(f"third {e.n}"))
    bus.publish(Child(5))
    assert got == ["first 1", "first 2", "second 2", "second 3", "third 5"]


def test_a_subscriber_added_during_a_publication_gets_the_next_one() -> None:
    bus = EventBus()
    got: list[str] = []

    def late(event: Base) -> None:
        got.append(f"late {event.n}")

    def adds_late(event: Base) -> None:
        got.append(f"adder {event.n}")
        if event.n == 1:
            bus.subscribe(Base, late)

    bus.subscribe(Base, adds_late)
    bus.publish(Base(1))
    bus.publish(Base(2))
    assert got == ["adder 1", "adder 2", "late 2"]


def test_a_failing_subscriber_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    got: list[int] = []

    def broken(event: Base) -> None:
        raise RuntimeError("boom")

    bus.subscribe(Base, broken)
    bus.subscribe(Base, lambda e: got.append(e.n))
    bus.publish(Base(7))
    assert got == [7]
    assert "event subscriber" in caplog.text and "boom" in caplog.text
