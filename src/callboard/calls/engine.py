"""The call engine: the SIP endpoint's transaction user.

It authenticates new INVITEs (phones by digest, trunks by their address), routes them,
and hands each call to a `Call`; in-dialog requests find their leg by dialog id. REGISTER
goes to the registrar. Nothing here knows of HTTP or of any client protocol: every change
is published on the event bus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from callboard.calls.call import Call
from callboard.calls.causes import HangupCause
from callboard.calls.directory import Directory, TrunkInfo
from callboard.calls.events import Direction, Party, PartyKind
from callboard.calls.legs import InboundLeg, Leg, new_id
from callboard.calls.routing import Route, Router
from callboard.calls.sdp import inspect
from callboard.events.bus import EventBus
from callboard.sip.authentication import AuthenticationFailed, DigestAuthenticator
from callboard.sip.dialog import Dialog, DialogId, incoming_dialog_id, response_dialog_id
from callboard.sip.endpoint import DEFAULT_ALLOW, Endpoint
from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.registrar import Registrar
from callboard.sip.transactions import ServerInviteTransaction, ServerTransaction
from callboard.sip.transport import Flow
from callboard.sip.tu import options_response
from callboard.sip.uri import SipUri

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    ring_timeout: float = 60.0
    #: How long a referrer may take to hang up after its transfer completed.
    transfer_bye_delay: float = 2.0


class CallEngine:
    def __init__(
        self,
        *,
        directory: Directory,
        router: Router,
        registrar: Registrar,
        authenticator: DigestAuthenticator,
        bus: EventBus,
        config: EngineConfig | None = None,
    ) -> None:
        self.directory = directory
        self.router = router
        self.registrar = registrar
        self.authenticator = authenticator
        self.bus = bus
        self.config = config or EngineConfig()
        self.allow = ", ".join(DEFAULT_ALLOW)
        self.allow_set = frozenset(DEFAULT_ALLOW)
        self.calls: dict[str, Call] = {}
        self._dialogs: dict[DialogId, tuple[Call, Leg]] = {}
        self._legs: dict[str, tuple[Call, Leg]] = {}
        self._invites: dict[int, Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._endpoint: Endpoint | None = None

    def attach(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    @property
    def endpoint(self) -> Endpoint:
        assert self._endpoint is not None, "attach() the endpoint first"
        return self._endpoint

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.endpoint.loop

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call engine task failed", exc_info=task.exception())

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            call.hangup(None, HangupCause.SERVICE_UNAVAILABLE, 503, by="system")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- bookkeeping used by calls ---------------------------------------------------------

    def register_dialog(self, dialog: Dialog, leg: Leg) -> None:
        call = self.calls.get(leg.call_id)
        if call is not None:
            self._dialogs[dialog.id] = (call, leg)

    def unregister_dialog(self, dialog: Dialog) -> None:
        self._dialogs.pop(dialog.id, None)

    def leg_added(self, call: Call, leg: Leg) -> None:
        self._legs[leg.id] = (call, leg)

    def find_leg(self, leg_id: str) -> tuple[Call, Leg] | None:
        """The live leg with this id (the id clients know a call by), and its call."""
        return self._legs.get(leg_id)

    def call_ended(self, call: Call) -> None:
        self.calls.pop(call.id, None)
        for leg in call.legs:
            self._legs.pop(leg.id, None)
        invite = call.caller_invite
        if invite is not None:
            self._invites.pop(id(invite), None)
        for leg in call.legs:
            if leg.dialog is not None:
                self._dialogs.pop(leg.dialog.id, None)

    def flow_closed(self, flow: Flow) -> None:
        """A browser's WebSocket closed: its page is gone, and so are its calls (a web
        phone that reconnects starts afresh). Other transports may reconnect, so their
        dialogs stay."""
        if not flow.kind.websocket:
            return
        for call, leg in list(self._dialogs.values()):
            if leg.dialog is not None and leg.dialog.flow is flow and not call.ended:
                by = "caller" if leg is call.caller else "callee"
                call.hangup(leg, HangupCause.DESTINATION_OUT_OF_ORDER, 503, by=by)
        for call in list(self.calls.values()):
            invite = call.caller_invite
            if invite is not None and invite.flow is flow and not invite.final_sent:
                call.caller_cancelled()

    # -- the transaction user ------------------------------------------------------------

    def on_request(self, request: SipRequest, transaction: ServerTransaction) -> None:
        method = request.method
        if request.to_tag is not None:
            self._in_dialog(request, transaction)
        elif method == "INVITE":
            assert isinstance(transaction, ServerInviteTransaction)
            self.spawn(self._new_call(request, transaction))
        elif method == "REGISTER":
            self.spawn(self._register(request, transaction))
        elif method == "OPTIONS":
            transaction.send_response(
                options_response(
                    transaction, allow=tuple(self.allow_set), supported=("replaces", "timer")
                )
            )
        elif method == "ACK":
            pass
        else:
            transaction.respond(405 if method not in self.allow_set else 481)

    def on_ack(self, request: SipRequest, flow: Flow) -> None:
        dialog_id = incoming_dialog_id(request)
        found = self._dialogs.get(dialog_id) if dialog_id is not None else None
        if found is not None:
            call, leg = found
            if leg is call.caller:
                call.caller_acked(request)

    def on_cancel(self, request: SipRequest, transaction: ServerInviteTransaction) -> None:
        call = self._invites.get(id(transaction))
        if call is not None:
            call.caller_cancelled()
        elif not transaction.final_sent:
            transaction.respond(487)

    def on_stray_response(self, response: SipResponse, flow: Flow) -> None:
        if 200 <= response.status < 300 and response.cseq.method == "INVITE":
            # A 2xx retransmitted after its transaction ended: its call may ACK it again.
            dialog_id = response_dialog_id(response)
            found = self._dialogs.get(dialog_id) if dialog_id is not None else None
            if found is not None:
                call, leg = found
                call.retransmitted_2xx(leg, response)
                return
        log.debug("stray %d for %s dropped", response.status, response.call_id)

    # -- handlers --------------------------------------------------------------------------

    def _in_dialog(self, request: SipRequest, transaction: ServerTransaction) -> None:
        dialog_id = incoming_dialog_id(request)
        found = self._dialogs.get(dialog_id) if dialog_id is not None else None
        if found is None:
            transaction.respond(481)
            return
        call, leg = found
        assert leg.dialog is not None
        if not leg.dialog.receive_request(request):
            transaction.respond(500, "CSeq Out of Order")
            return
        call.in_dialog(leg, request, transaction)

    async def _register(self, request: SipRequest, transaction: ServerTransaction) -> None:
        response = await self.registrar.handle_register(request, transaction.flow_out)
        if not transaction.final_sent:
            transaction.send_response(response)

    async def _new_call(self, request: SipRequest, invite: ServerInviteTransaction) -> None:
        late_offer = not request.body
        source = invite.flow_out.remote.host
        try:
            trunk = await self.directory.trunk_from(source)
            if trunk is not None:
                await self._from_trunk(request, invite, trunk, late_offer)
            else:
                await self._from_phone(request, invite, source, late_offer)
        except AuthenticationFailed as failure:
            if not invite.final_sent:
                invite.send_response(failure.response)
        except Exception:
            log.exception("new call %s failed", request.call_id)
            if not invite.final_sent:
                invite.respond(500)

    async def _from_phone(
        self, request: SipRequest, invite: ServerInviteTransaction, source: str, late_offer: bool
    ) -> None:
        from_uri = request.from_.uri
        realm = from_uri.host.lower() if isinstance(from_uri, SipUri) else ""
        domain_id = await self.directory.domain_id(realm)
        if domain_id is None:
            # Still challenge: an unknown domain must not look different from a bad password.
            if self.authenticator.blocked(source):
                invite.respond(403)
                return
            invite.send_response(
                self.authenticator.challenge(request, realm or "callboard", to_tag=invite.local_tag)
            )
            return
        who = await self.authenticator.authenticate(
            request, [realm], source, to_tag=invite.local_tag
        )
        # The account, not the username: a web phone's ephemeral username is another
        # name for its device's account.
        device = await self.directory.device(realm, who.account)
        if device is None:
            invite.respond(403)
            return
        if device.user_id is not None:
            caller = Party(
                device.extension or device.account, device.user_name, PartyKind.USER, device.user_id
            )
        else:
            caller = Party(device.account, device.user_name, PartyKind.EXTERNAL)
        number = _destination(request)
        leg = self._caller_leg(request, invite, caller, domain_id, number, late_offer)
        call = self._start(leg, realm)
        offer = inspect(request.body) if request.body else None
        route = await self.router.route(domain_id, realm, number, offer.kind if offer else None)
        self._dispatch(call, route, request)

    async def _from_trunk(
        self,
        request: SipRequest,
        invite: ServerInviteTransaction,
        trunk: TrunkInfo,
        late_offer: bool,
    ) -> None:
        number = _destination(request)
        from_uri = request.from_.uri
        caller_number = (
            from_uri.user if isinstance(from_uri, SipUri) and from_uri.user else "anonymous"
        )
        caller = Party(caller_number, request.from_.display_name or caller_number, PartyKind.TRUNK)
        leg = self._caller_leg(request, invite, caller, trunk.domain_id, number, late_offer)
        leg.trunk_id = trunk.trunk_id
        call = self._start(leg, trunk.domain)
        owner = await self.directory.number_owner(trunk.domain_id, number)
        if owner is None:
            owner = await self.directory.user_by_extension(trunk.domain_id, number)
        if owner is None:
            call.fail(HangupCause.UNALLOCATED_NUMBER, 404, by="system")
            return
        offer = inspect(request.body) if request.body else None
        route = await self.router.ring_user(owner, offer.kind if offer else None)
        self._dispatch(call, route, request)

    def _caller_leg(
        self,
        request: SipRequest,
        invite: ServerInviteTransaction,
        caller: Party,
        domain_id: int,
        number: str,
        late_offer: bool,
    ) -> InboundLeg:
        leg = InboundLeg(
            party=caller,
            direction=Direction.OUTBOUND,
            domain_id=domain_id,
            call_id=new_id(),
            destination=number,
            sip_call_id=request.call_id,
            invite=invite,
            late_offer=late_offer,
        )
        leg.remote_sdp = request.body
        return leg

    def _start(self, leg: InboundLeg, domain: str) -> Call:
        call = Call(self, leg, domain)
        self.calls[call.id] = call
        self.leg_added(call, leg)
        assert leg.invite is not None
        self._invites[id(leg.invite)] = call
        if not leg.invite.final_sent:
            leg.invite.respond(100)
        return call

    def _dispatch(self, call: Call, route: Route | object, request: SipRequest) -> None:
        if call.ended:
            return
        if not isinstance(route, Route):
            from callboard.calls.routing import Unroutable

            assert isinstance(route, Unroutable)
            call.emit_ringing(
                call.caller, callee=Party(call.caller.destination), caller=call.caller.party
            )
            headers = (("Warning", route.warning),) if route.warning else ()
            call.fail(route.cause, route.status, by="system", reason=route.reason, headers=headers)
            return
        call.emit_ringing(call.caller, callee=route.party, caller=call.caller.party)
        call.ring(route, parent=call.caller, body=request.body)


def _destination(request: SipRequest) -> str:
    uri = request.uri
    if isinstance(uri, SipUri) and uri.user:
        return uri.user.split(";")[0]
    return ""
