"""Flows of connection-oriented transports (TCP, TLS, WS, WSS)."""

from __future__ import annotations

import abc
import secrets

from callboard.sip.transport.base import Address, Flow, TransportKind

__all__ = ["ConnectionFlow"]

CONNECTION_TOKEN_PREFIX = "c"  # noqa: S105 - not a secret


class ConnectionFlow(Flow):
    """A flow that is one live connection. Subclasses implement :meth:`send` and
    :meth:`close` for their connection type."""

    __slots__ = ("_closed", "_kind", "_local", "_remote", "_route_keys", "_token", "outbound")

    def __init__(
        self, kind: TransportKind, local: Address, remote: Address, outbound: bool
    ) -> None:
        self._kind = kind
        self._local = local
        self._remote = remote
        # 96 random bits: unguessable, so a token cannot be forged to reach another flow.
        self._token = CONNECTION_TOKEN_PREFIX + secrets.token_urlsafe(12)
        self._closed = False
        #: (kind, host, port) keys under which the layer finds this flow for sending.
        self._route_keys: list[tuple[TransportKind, str, int]] = []
        #: True when this side opened the connection.
        self.outbound = outbound

    @property
    def kind(self) -> TransportKind:
        return self._kind

    @property
    def local(self) -> Address:
        return self._local

    @property
    def remote(self) -> Address:
        return self._remote

    @property
    def token(self) -> str:
        return self._token

    @property
    def closed(self) -> bool:
        return self._closed

    @abc.abstractmethod
    def abort(self) -> None:
        """Drop the connection at once, discarding unsent data."""
