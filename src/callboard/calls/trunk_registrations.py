"""Registering Callboard with providers: a REGISTER client per trunk that asks for it.

Each trunk with `registration` on keeps one binding at its provider: REGISTER, answer a
digest challenge once, refresh before expiry, retry after a failure. The set of trunks
follows the directory: a change reloads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from callboard.calls.directory import TrunkInfo
from callboard.calls.legs import new_id
from callboard.clock import now_ms
from callboard.sip.digest import build_authorization, parse_challenge
from callboard.sip.endpoint import Endpoint
from callboard.sip.errors import SipParseError
from callboard.sip.headers import Headers
from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.transactions import TransactionError, new_tag
from callboard.sip.transport import TransportKind
from callboard.sip.uri import SipUri

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = 30.0


@dataclass
class RegistrationState:
    """How a trunk's registration stands, for the API and the logs."""

    trunk_id: int
    registered: bool = False
    status: int = 0
    reason: str = ""
    expires_at: int | None = None


class TrunkRegistration:
    """Keeps one trunk registered at its provider."""

    def __init__(self, endpoint: Endpoint, trunk: TrunkInfo) -> None:
        self.endpoint = endpoint
        self.trunk = trunk
        self.state = RegistrationState(trunk.trunk_id)
        self._call_id = new_id()
        self._tag = new_tag()
        self._cseq = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"trunk-register-{self.trunk.trunk_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.state.registered:
            with contextlib.suppress(TransactionError, asyncio.TimeoutError):
                await asyncio.wait_for(self._register(0), 5)

    async def _run(self) -> None:
        while True:
            try:
                expires = await self._register(self.trunk.register_expires)
            except TransactionError as error:
                self._failed(0, str(error))
                expires = None
            except Exception:
                log.exception("registering trunk %s failed", self.trunk.name)
                expires = None
            if expires:
                # Refresh well before the binding expires.
                await asyncio.sleep(max(expires * 0.8, expires - 30, 5))
            else:
                await asyncio.sleep(RETRY_AFTER_FAILURE)

    async def _register(self, expires: int) -> int | None:
        """One REGISTER (and its challenged retry); the granted expiry, or None."""
        response = await self._send(expires, None)
        if response.status in (401, 407):
            authorization = self._authorization(response)
            if authorization is None:
                self._failed(response.status, "no usable challenge or no credentials")
                return None
            response = await self._send(expires, authorization)
        if not 200 <= response.status < 300:
            self._failed(response.status, response.reason)
            return None
        granted = _granted_expires(response, expires)
        self.state.registered = expires > 0
        self.state.status = response.status
        self.state.reason = response.reason
        self.state.expires_at = now_ms() + granted * 1000 if expires else None
        log.info("trunk %s registered for %d s", self.trunk.name, granted)
        return granted

    async def _send(self, expires: int, authorization: tuple[str, str] | None) -> SipResponse:
        trunk = self.trunk
        kind = TransportKind(trunk.transport)
        params = {} if kind is TransportKind.UDP else {"transport": kind.value}
        registrar = SipUri(trunk.host, port=trunk.port, params=params)
        user = trunk.username or "callboard"
        aor = f"<sip:{user}@{trunk.host}>"
        self._cseq += 1
        headers = Headers()
        headers.add("From", f"{aor};tag={self._tag}")
        headers.add("To", aor)
        headers.add("Call-ID", self._call_id)
        headers.add("CSeq", f"{self._cseq} REGISTER")
        headers.add("Contact", f"<{self.endpoint.contact_uri(kind, user)}>")
        headers.add("Expires", str(expires))
        if authorization is not None:
            headers.add(*authorization)
        request = SipRequest("REGISTER", registrar, headers)
        return await self.endpoint.send_request(request).final_response()

    def _authorization(self, response: SipResponse) -> tuple[str, str] | None:
        trunk = self.trunk
        if not trunk.username or not trunk.password:
            return None
        proxy = response.status == 407
        value = response.headers.get("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        if value is None:
            return None
        try:
            challenge = parse_challenge(value)
        except SipParseError:
            return None
        registrar = SipUri(trunk.host, port=trunk.port)
        credentials = build_authorization(
            challenge,
            method="REGISTER",
            uri=str(registrar),
            username=trunk.username,
            password=trunk.password,
        )
        return ("Proxy-Authorization" if proxy else "Authorization", str(credentials))

    def _failed(self, status: int, reason: str) -> None:
        self.state.registered = False
        self.state.status = status
        self.state.reason = reason
        log.warning("trunk %s: registration failed (%s %s)", self.trunk.name, status, reason)


class TrunkRegistrations:
    """One `TrunkRegistration` per trunk that asks for it, following the directory."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.active: dict[int, TrunkRegistration] = {}

    async def sync(self, trunks: tuple[TrunkInfo, ...]) -> None:
        wanted = {trunk.trunk_id: trunk for trunk in trunks if trunk.registration}
        for trunk_id, registration in list(self.active.items()):
            if wanted.get(trunk_id) != registration.trunk:
                del self.active[trunk_id]
                await registration.stop()
        for trunk_id, trunk in wanted.items():
            if trunk_id not in self.active:
                registration = TrunkRegistration(self.endpoint, trunk)
                self.active[trunk_id] = registration
                registration.start()

    def state(self, trunk_id: int) -> RegistrationState | None:
        registration = self.active.get(trunk_id)
        return registration.state if registration is not None else None

    async def stop(self) -> None:
        for registration in list(self.active.values()):
            await registration.stop()
        self.active.clear()


def _granted_expires(response: SipResponse, asked: int) -> int:
    """The provider's expiry: the `expires` of our Contact, else Expires, else ours."""
    for contact in response.contacts:
        value = contact.params.get("expires")
        if value and value.isdigit():
            return int(value)
    header = response.headers.get("Expires")
    if header and header.strip().isdigit():
        return int(header.strip())
    return asked
