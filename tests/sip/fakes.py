"""Stand-ins for the transport layer and the clock, for tests of the layers above it."""

from __future__ import annotations

import itertools

from callboard.sip.transport import Address, Flow, FlowClosedHandler, TransportKind

_tokens = itertools.count(1)


class FakeFlow(Flow):
    """A flow that records what is sent on it. Connection flows get a unique token, UDP
    flows one derived from the remote address (as the real layer's are stable)."""

    __slots__ = ("_closed", "_kind", "_remote", "_token", "sent")

    def __init__(
        self,
        kind: TransportKind = TransportKind.UDP,
        remote: Address | None = None,
    ) -> None:
        self._kind = kind
        self._remote = remote = remote or Address("192.0.2.10", 5060)
        if kind is TransportKind.UDP:
            self._token = f"u-{remote.host}-{remote.port}"
        else:
            self._token = f"c-{next(_tokens)}"
        self._closed = False
        self.sent: list[bytes] = []

    @property
    def kind(self) -> TransportKind:
        return self._kind

    @property
    def local(self) -> Address:
        return Address("198.51.100.1", self._kind.default_port)

    @property
    def remote(self) -> Address:
        return self._remote

    @property
    def token(self) -> str:
        return self._token

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, data: bytes) -> bool:
        if self._closed:
            return False
        self.sent.append(data)
        return True

    def close(self) -> None:
        self._closed = True


class FakeTransport:
    """The flow-closed half of a TransportLayer."""

    def __init__(self) -> None:
        self.handlers: list[FlowClosedHandler] = []

    def add_flow_closed_listener(self, handler: FlowClosedHandler) -> None:
        self.handlers.append(handler)

    def remove_flow_closed_listener(self, handler: FlowClosedHandler) -> None:
        self.handlers.remove(handler)

    def close(self, flow: FakeFlow) -> None:
        flow.close()
        for handler in tuple(self.handlers):
            handler(flow)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
