"""The SIP side of a node: transports, endpoint, registrar, call engine, call history."""

from __future__ import annotations

import asyncio
import logging
import ssl

from callboard.calls.control import CallControl
from callboard.calls.directory import DirectoryCredentials
from callboard.calls.engine import CallEngine, EngineConfig
from callboard.calls.history import HistoryWriter
from callboard.calls.routing import Router
from callboard.calls.trunk_registrations import TrunkRegistrations
from callboard.config import Settings
from callboard.directory.events import DirectoryChanged
from callboard.runtime import Runtime
from callboard.security.ratelimit import FailureLimiter
from callboard.sip.authentication import DigestAuthenticator
from callboard.sip.digest import NonceManager
from callboard.sip.endpoint import Endpoint, EndpointConfig
from callboard.sip.location import LocationService
from callboard.sip.registrar import Registrar, RegistrarConfig
from callboard.sip.transport import (
    ListenerConfig,
    TransportKind,
    TransportLayer,
    server_ssl_context,
)

log = logging.getLogger(__name__)


def listeners(settings: Settings) -> list[ListenerConfig]:
    """The SIP listeners the settings ask for; TLS and WSS only with a certificate."""
    host = settings.sip_host or settings.host
    context: ssl.SSLContext | None = None
    if settings.tls_cert is not None:
        context = server_ssl_context(settings.tls_cert, settings.tls_key)
    wanted: list[ListenerConfig] = []
    for kind, port in (
        (TransportKind.UDP, settings.sip_udp_port),
        (TransportKind.TCP, settings.sip_tcp_port),
        (TransportKind.WS, settings.sip_ws_port),
        (TransportKind.UDP, settings.sip_provider_port),
    ):
        if port is not None:
            wanted.append(ListenerConfig(kind, host, port))
    if context is not None:
        for kind, port in (
            (TransportKind.TLS, settings.sip_tls_port),
            (TransportKind.WSS, settings.sip_wss_port),
        ):
            if port is not None:
                wanted.append(ListenerConfig(kind, host, port, ssl_context=context))
    return wanted


#: The digest algorithms phones are challenged with (see `Telephony`).
PHONE_DIGEST = ("MD5",)


class Telephony:
    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        credentials = DirectoryCredentials(runtime.directory)
        nonces = NonceManager(runtime.secrets.derive("sip-nonce"))
        self.location = LocationService()
        # One count of failed authentications per source, for REGISTER and INVITE alike.
        failures = FailureLimiter(10, 300.0)
        # MD5 challenges only: phones that meet a second (SHA-256) challenge may fail on
        # it rather than skip it (baresip 1.0's libre gives up with ENOSYS), and every
        # phone and browser answers MD5. The SHA-256 HA1s are kept for the day it is on.
        registrar = RegistrarConfig(algorithms=PHONE_DIGEST)
        self.registrar = Registrar(
            credentials, self.location, nonces, config=registrar, failures=failures
        )
        self.authenticator = DigestAuthenticator(
            credentials, nonces, proxy=True, failures=failures, algorithms=PHONE_DIGEST
        )
        self.engine = CallEngine(
            directory=runtime.directory,
            router=Router(runtime.directory, self.location),
            registrar=self.registrar,
            authenticator=self.authenticator,
            bus=runtime.bus,
            config=EngineConfig(ring_timeout=settings.ring_timeout),
        )
        self.history = HistoryWriter(runtime.db, runtime.bus)
        self.transport = TransportLayer(token_secret=runtime.secrets.derive("sip-flow"))
        self.endpoint: Endpoint | None = None
        self.trunk_registrations: TrunkRegistrations | None = None
        self._sync: asyncio.Task[None] | None = None
        self._dirty = False

    async def start(self) -> None:
        settings = self.runtime.settings
        self.endpoint = Endpoint(
            self.transport,
            config=EndpointConfig(advertised_host=settings.sip_advertised_host),
            tu=self.engine,
        )
        self.engine.attach(self.endpoint)
        self.location.attach(self.transport)
        self.transport.add_flow_closed_listener(self.engine.flow_closed)
        self.location.start()
        self.history.start()
        await self.endpoint.start(listeners(settings))
        for listener in self.transport.listeners:
            log.info("SIP %s on %s", listener.kind.value, listener.address)
        self.runtime.web_phone_url = self._web_phone_url()
        self.runtime.calls = CallControl(self.engine)
        self.trunk_registrations = TrunkRegistrations(self.endpoint)
        await self._sync_trunks()
        self.runtime.bus.subscribe(DirectoryChanged, self._directory_changed)

    def _web_phone_url(self) -> str | None:
        """The SIP WebSocket address web phones are told to use (secure when there is one)."""
        for kind, scheme in ((TransportKind.WSS, "wss"), (TransportKind.WS, "ws")):
            for listener in self.transport.listeners:
                if listener.kind is kind:
                    address = (
                        self.endpoint.local_address(kind) if self.endpoint else listener.address
                    )
                    return f"{scheme}://{address}"
        return None

    def _directory_changed(self, _event: DirectoryChanged) -> None:
        self._dirty = True
        if self._sync is None or self._sync.done():
            self._sync = asyncio.create_task(self._follow_directory())

    async def _follow_directory(self) -> None:
        while self._dirty:
            self._dirty = False
            await self._sync_trunks()

    async def _sync_trunks(self) -> None:
        if self.trunk_registrations is not None:
            await self.trunk_registrations.sync(await self.runtime.directory.all_trunks())

    async def stop(self) -> None:
        if self.trunk_registrations is not None:
            await self.trunk_registrations.stop()
        await self.engine.stop()
        if self.endpoint is not None:
            await self.endpoint.stop()
        await self.location.stop()
        await self.history.stop()
