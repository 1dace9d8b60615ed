"""One call: its legs, its state machine, and everything a B2BUA does between the legs.

States: ROUTING (the caller's INVITE is being authenticated and routed) → RINGING (an
outbound leg is alerting) → ANSWERED (two legs bridged) → ENDED. A blind transfer rings
a new leg while the call stays ANSWERED, then bridges it in place of the referrer.

The caller's leg is usually an INVITE we received (`InboundLeg`); in a click-to-call
(`callboard.calls.originate`) it is one we sent, and `caller_invite` is None.

Media is not touched: session descriptions pass from one leg to the other unchanged.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from callboard.calls.causes import HangupCause, cause_from_sip, sip_status_of
from callboard.calls.events import (
    Direction,
    LegAnswered,
    LegBridged,
    LegDtmf,
    LegEnded,
    LegHeld,
    LegResumed,
    LegRinging,
    LegTransferred,
    Party,
)
from callboard.calls.legs import Fork, InboundLeg, Leg, LegState, OutboundLeg, new_id
from callboard.calls.routing import Route
from callboard.calls.sdp import inspect, rejecting_answer, with_direction
from callboard.clock import now_ms
from callboard.sip.dialog import Dialog, ack_credentials
from callboard.sip.digest import build_authorization, parse_challenge
from callboard.sip.errors import SipParseError
from callboard.sip.headers import Headers
from callboard.sip.location import Binding
from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.targets import Target
from callboard.sip.transactions import (
    ClientInviteTransaction,
    ServerInviteTransaction,
    ServerTransaction,
    new_tag,
)
from callboard.sip.transport import Flow, TransportKind
from callboard.sip.uri import NameAddress, SipUri

if TYPE_CHECKING:
    from callboard.calls.engine import CallEngine

log = logging.getLogger(__name__)

SDP = "application/sdp"


class CallStateError(Exception):
    """A command that does not fit the call's state (hold a ringing call, say)."""


class CallState(enum.Enum):
    ROUTING = "routing"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


_TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    CallState.ROUTING: frozenset({CallState.RINGING, CallState.ENDED}),
    CallState.RINGING: frozenset({CallState.ANSWERED, CallState.ENDED}),
    CallState.ANSWERED: frozenset({CallState.ENDED}),
    CallState.ENDED: frozenset(),
}


@dataclass(eq=False)
class Transfer:
    """A blind transfer under way: `transferee` is being connected to a new party in
    place of `referrer`. A phone's REFER hears of it by NOTIFY; the API's does not."""

    transferee: Leg
    referrer: Leg
    notify: bool


class Call:
    def __init__(self, engine: CallEngine, caller: Leg, domain: str) -> None:
        self.engine = engine
        self.id = caller.call_id
        self.domain = domain
        self.domain_id = caller.domain_id
        self.state = CallState.ROUTING
        self.caller = caller
        #: Copied into every leg rung for this call (and so into its events and record).
        self.variables: dict[str, str] = {}
        #: The two legs talking, once answered.
        self.bridge: tuple[Leg, Leg] | None = None
        #: The leg ringing now (the callee, or a transfer target).
        self.pending: OutboundLeg | None = None
        self.legs: list[Leg] = [caller]
        self._ring_timer: asyncio.TimerHandle | None = None
        self._transfer: Transfer | None = None

    # -- state machine -----------------------------------------------------------------

    def _enter(self, state: CallState) -> None:
        if state not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"call {self.id}: no transition {self.state.value} → {state.value}")
        self.state = state

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED

    @property
    def caller_invite(self) -> ServerInviteTransaction | None:
        """The INVITE the caller sent us; None when we called them (click-to-call)."""
        caller = self.caller
        return caller.invite if isinstance(caller, InboundLeg) else None

    def other(self, leg: Leg) -> Leg | None:
        if self.bridge is None:
            return None
        first, second = self.bridge
        return second if leg is first else first if leg is second else None

    # -- events ------------------------------------------------------------------------

    def _common(self, leg: Leg) -> dict[str, object]:
        return {
            "leg_id": leg.id,
            "call_id": self.id,
            "domain_id": self.domain_id,
            "user_id": leg.user_id,
            "timestamp": now_ms(),
        }

    def emit_ringing(
        self, leg: Leg, callee: Party, caller: Party, params: Mapping[str, Any] | None = None
    ) -> None:
        self.engine.bus.publish(
            LegRinging(
                **self._common(leg),  # type: ignore[arg-type]
                direction=leg.direction,
                caller=caller,
                callee=callee,
                destination=leg.destination,
                sip_call_id=leg.sip_call_id,
                parent_id=leg.parent_id,
                variables=dict(leg.variables),
                params=dict(params or {}),
            )
        )

    # -- ringing the callee --------------------------------------------------------------

    def ring(
        self,
        route: Route,
        *,
        parent: Leg,
        body: bytes,
        transfer: Transfer | None = None,
        timeout: float | None = None,
        shown: Party | None = None,
    ) -> None:
        """Create the outbound leg for `route` and send its INVITEs. It rings for
        `timeout` seconds (default: the engine's), showing `shown` as the caller (default:
        the parent's party; a trunk's own caller id applies only to the default)."""
        leg = OutboundLeg(
            party=route.party,
            direction=Direction.INBOUND,
            domain_id=self.domain_id,
            call_id=self.id,
            destination=route.number,
            sip_call_id="",
            parent_id=parent.id,
            trunk_id=route.trunk.trunk_id if route.trunk else None,
            trunk=route.trunk,
            variables=dict(self.variables),
        )
        leg.local_sdp = body
        self.pending = leg
        self.legs.append(leg)
        self.engine.leg_added(self, leg)
        self._transfer = transfer
        if self.state is CallState.ROUTING:
            self._enter(CallState.RINGING)
        caller = shown or parent.party
        if route.trunk is not None:
            leg.forks.append(self._trunk_fork(leg, route, body, caller, fixed=shown is not None))
        else:
            for binding in route.contacts:
                leg.forks.append(self._contact_fork(leg, binding, body, caller))
        leg.sip_call_id = leg.forks[0].request.call_id
        self.emit_ringing(leg, callee=route.party, caller=caller)
        for fork in leg.forks:
            self._send_fork(leg, fork)
        self._ring_timer = self.engine.loop.call_later(
            self.engine.config.ring_timeout if timeout is None else timeout,
            self._ring_timeout,
            leg,
        )

    def _invite(
        self,
        leg: OutboundLeg,
        uri: SipUri,
        to: str,
        caller: Party,
        body: bytes,
        kind: TransportKind,
    ) -> SipRequest:
        headers = Headers()
        name = caller.name.replace('"', "")
        headers.add("From", f'"{name}" <sip:{caller.number}@{self.domain}>;tag={new_tag()}')
        headers.add("To", to)
        headers.add("Call-ID", new_id())
        headers.add("CSeq", "1 INVITE")
        headers.add("Contact", f"<{self.engine.endpoint.contact_uri(kind)}>")
        headers.add("Allow", self.engine.allow)
        headers.add("X-Webitel-Uuid", leg.id)
        if body:
            headers.add("Content-Type", SDP)
        return SipRequest("INVITE", uri, headers, body)

    def _contact_fork(self, leg: OutboundLeg, binding: Binding, body: bytes, caller: Party) -> Fork:
        to = f"<sip:{leg.party.number}@{self.domain}>"
        request = self._invite(leg, binding.uri, to, caller, body, binding.transport)
        # Back the way the phone registered: its own connection, or (UDP) the address
        # its REGISTER came from, which is reachable even behind NAT.
        fork = Fork(request=request, binding=binding)
        if binding.requires_flow or binding.transport.stream:
            fork.flow = binding.flow_token
        return fork

    def _trunk_fork(
        self, leg: OutboundLeg, route: Route, body: bytes, caller: Party, *, fixed: bool = False
    ) -> Fork:
        trunk = route.trunk
        assert trunk is not None
        kind = TransportKind(trunk.transport)
        params = {} if kind is TransportKind.UDP else {"transport": kind.value}
        uri = SipUri(trunk.host, route.number, port=trunk.port, params=params)
        number = caller.number if fixed else (trunk.caller_id or caller.number)
        shown = Party(number, caller.name, caller.kind, caller.user_id)
        request = self._invite(leg, uri, f"<{uri}>", shown, body, kind)
        return Fork(request=request)

    def _send_fork(self, leg: OutboundLeg, fork: Fork) -> None:
        destination = None
        if fork.flow is None and fork.binding is not None:
            destination = Target(fork.binding.transport, fork.binding.source)
        transaction = self.engine.endpoint.send_request(
            fork.request,
            flow=fork.flow,
            destination=destination,
            on_response=lambda response: self._fork_response(leg, fork, response),
            on_timeout=lambda: self._fork_failed(leg, fork, 408),
            on_transport_error=lambda _error: self._fork_failed(leg, fork, 503),
        )
        assert isinstance(transaction, ClientInviteTransaction)
        fork.transaction = transaction

    def _fork_response(self, leg: OutboundLeg, fork: Fork, response: SipResponse) -> None:
        status = response.status
        if status < 200:
            if status > 100 and leg is self.pending and not self.ended:
                self._relay_provisional(leg, response)
            return
        if status < 300:
            self._fork_answered(leg, fork, response)
            return
        if status in (401, 407) and self._authenticate_fork(leg, fork, response):
            return
        fork.failed = response
        self._fork_failed(leg, fork, status)

    def _relay_provisional(self, leg: OutboundLeg, response: SipResponse) -> None:
        if leg is not self.pending or self._transfer is not None:
            return
        invite = self.caller_invite
        if invite is None or invite.final_sent:
            return
        headers = [("Contact", f"<{self.engine.endpoint.contact_uri(invite.flow_out.kind)}>")]
        body = response.body if response.body and response.status == 183 else b""
        if body:
            headers.append(("Content-Type", response.content_type or SDP))
        invite.respond(response.status, response.reason, headers=headers, body=body)

    def _authenticate_fork(self, leg: OutboundLeg, fork: Fork, response: SipResponse) -> bool:
        """A trunk challenged our INVITE: send it again once, with credentials."""
        trunk = leg.trunk
        if fork.authenticated or trunk is None or not trunk.username or not trunk.password:
            return False
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        value = response.headers.get(header)
        if value is None:
            return False
        try:
            challenge = parse_challenge(value)
        except SipParseError:
            return False
        request = fork.request
        again = SipRequest(request.method, request.uri, request.headers.copy(), request.body)
        again.headers.remove("Via")
        cseq = request.cseq
        again.headers.set("CSeq", f"{cseq.number + 1} INVITE")
        again.headers.set(
            "Authorization" if response.status == 401 else "Proxy-Authorization",
            str(
                build_authorization(
                    challenge,
                    method="INVITE",
                    uri=str(request.uri),
                    username=trunk.username,
                    password=trunk.password,
                )
            ),
        )
        fork.request = again
        fork.authenticated = True
        self._send_fork(leg, fork)
        return True

    def _fork_failed(self, leg: OutboundLeg, fork: Fork, status: int) -> None:
        if fork.done:
            return
        fork.done = True
        if leg.ended or leg.state is not LegState.RINGING:
            return
        if all(f.done for f in leg.forks):
            statuses = [f.failed.status if f.failed else status for f in leg.forks]
            best = _best_failure(statuses)
            self._outbound_failed(leg, best)

    def _fork_answered(self, leg: OutboundLeg, fork: Fork, response: SipResponse) -> None:
        transaction = fork.transaction
        flow = transaction.flow if transaction is not None else None
        if leg.dialog is not None and leg.dialog.id.remote_tag == response.to_tag:
            # A retransmitted 2xx: the same ACK again, answer and all; none yet while the
            # ACK waits for an answer from the other side (a late offer, a click-to-call).
            self.retransmitted_2xx(leg, response)
            return
        dialog = Dialog.from_uac(fork.request, response, flow=flow)
        if fork.done or leg is not self.pending or leg.ended or self.ended:
            # Another fork won, or the call is gone: acknowledge and hang up this one. An
            # INVITE without an offer got one in this 2xx: the ACK must answer it.
            late = not fork.request.body and bool(response.body)
            answer = rejecting_answer(response.body) if late else b""
            self._send_ack(leg, dialog, fork.request, body=answer)
            self._send_bye(dialog)
            return
        fork.done = True
        # Its 2xx ended the INVITE transaction: drop it, with the parsed 2xx it keeps and
        # the callbacks that point back at this fork (a cycle only the GC would free).
        fork.transaction = None
        leg.dialog = dialog
        leg.sip_call_id = fork.request.call_id
        leg.remote_sdp = response.body
        self.engine.register_dialog(dialog, leg)
        for other in leg.forks:
            if other is not fork and not other.done and other.transaction is not None:
                other.done = True
                self.engine.endpoint.cancel(
                    other.transaction, reason='SIP;cause=200;text="Call completed elsewhere"'
                )
        # Every fork is done: the answered leg lives on its dialog. Let the forks go (the
        # INVITEs they built are some 2 KB a call, kept as long as the call otherwise).
        leg.forks.clear()
        if self._ring_timer is not None:
            self._ring_timer.cancel()
            self._ring_timer = None
        if self._transfer is not None:
            self._send_ack(leg, dialog, fork.request)
            self._transfer_answered(leg)
            return
        self._answered(leg, dialog, fork.request, response)

    def _answered(
        self, leg: OutboundLeg, dialog: Dialog, invite: SipRequest, response: SipResponse
    ) -> None:
        """The leg we rang answered (`invite` was its INVITE): connect it to the caller."""
        caller = self.caller
        if isinstance(caller, InboundLeg) and caller.late_offer:
            leg.pending_ack = (dialog, invite)
        else:
            self._send_ack(leg, dialog, invite)
        self._answer_caller(leg, response)

    def retransmitted_2xx(self, leg: Leg, response: SipResponse) -> None:
        """A 2xx to an INVITE of ours came again after its transaction ended: the peer
        has not seen our ACK, so it gets the same ACK again (§13.2.2.4)."""
        dialog, acked = leg.dialog, leg.acked
        if dialog is None or acked is None or acked[0] != response.cseq.number:
            return
        cseq, credentials, body = acked
        ack = dialog.create_ack_for(
            cseq, body=body, content_type=SDP if body else None, headers=credentials
        )
        self.engine.endpoint.send_ack(ack, flow=_flow_of(dialog))

    def _answer_caller(self, callee: OutboundLeg, response: SipResponse) -> None:
        caller = self.caller
        invite = self.caller_invite
        if invite is None or invite.final_sent:
            self._hangup_leg(callee, HangupCause.NORMAL_CLEARING)
            return
        ok = invite.create_response(200)
        ok.headers.add("Contact", f"<{self.engine.endpoint.contact_uri(invite.flow_out.kind)}>")
        ok.headers.add("Allow", self.engine.allow)
        if response.body:
            ok.headers.add("Content-Type", response.content_type or SDP)
            ok.body = response.body
        caller.local_sdp = response.body
        caller.dialog = Dialog.from_uas(invite.request, ok, flow=invite.flow)
        self.engine.register_dialog(caller.dialog, caller)
        self.engine.endpoint.send_2xx_reliably(
            invite,
            ok,
            on_timeout=lambda: self.hangup(
                caller, HangupCause.RECOVERY_ON_TIMER_EXPIRE, 408, by="caller"
            ),
        )
        now = now_ms()
        self._enter(CallState.ANSWERED)
        self.pending = None
        self.bridge = (caller, callee)
        for leg in (callee, caller):
            leg.state = LegState.ACTIVE
            leg.answered_at = leg.bridged_at = now
            self.engine.bus.publish(LegAnswered(**self._common(leg)))  # type: ignore[arg-type]
        self._emit_bridged(caller, callee)

    def _emit_bridged(self, first: Leg, second: Leg) -> None:
        for leg, other in ((first, second), (second, first)):
            self.engine.bus.publish(
                LegBridged(**self._common(leg), bridged_id=other.id, other=other.party)  # type: ignore[arg-type]
            )

    def _outbound_failed(self, leg: OutboundLeg, status: int) -> None:
        cause = cause_from_sip(status)
        if self._transfer is not None:
            self._transfer_failed(leg, cause, status, "callee")
            return
        self.fail(cause, status, by="callee")

    def _ring_timeout(self, leg: OutboundLeg) -> None:
        self._ring_timer = None
        if leg.ended or leg.state is not LegState.RINGING:
            return
        self._cancel_forks(leg)
        if self._transfer is not None:
            self._transfer_failed(leg, HangupCause.NO_ANSWER, 480, "system")
            return
        self.fail(HangupCause.NO_ANSWER, 480, by="system")

    def _transfer_failed(self, leg: OutboundLeg, cause: HangupCause, status: int, by: str) -> None:
        """The transfer target did not answer: the referrer hears why. If the referrer
        already hung up, the transferee has nobody left to talk to."""
        transfer = self._transfer
        self._end_leg(leg, cause, status, by)
        self.pending = None
        self._notify_referrer(status, final=True)
        self._transfer = None
        if transfer is not None and transfer.referrer.ended:
            self.hangup(None, cause, status, by=by)

    def _cancel_forks(self, leg: OutboundLeg) -> None:
        for fork in leg.forks:
            if not fork.done and fork.transaction is not None:
                fork.done = True
                self.engine.endpoint.cancel(fork.transaction)

    # -- ending ----------------------------------------------------------------------------

    def fail(
        self,
        cause: HangupCause,
        status: int,
        *,
        by: str,
        reason: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """The call ends before it was answered: the caller gets `status`."""
        invite = self.caller_invite
        if invite is not None and not invite.final_sent:
            invite.respond(status, reason, headers=headers)
        self.hangup(None, cause, status, by=by)

    def hangup(self, source: Leg | None, cause: HangupCause, sip_code: int, *, by: str) -> None:
        """End the whole call. `source` already ended its side (it sent BYE or CANCEL)."""
        if self.ended:
            return
        if self._ring_timer is not None:
            self._ring_timer.cancel()
            self._ring_timer = None
        for leg in self.legs:
            if leg.ended:
                continue
            if leg is not source:
                self._release(leg, cause)
            self._end_leg(leg, cause, sip_code, by)
        self._enter(CallState.ENDED)
        self.engine.call_ended(self)

    def _release(self, leg: Leg, cause: HangupCause) -> None:
        """Tell a party the call is over, however far it got."""
        if leg.dialog is not None and not leg.dialog.terminated and leg.answered_at is not None:
            self._send_bye(leg.dialog)
        elif isinstance(leg, OutboundLeg):
            self._cancel_forks(leg)
        elif isinstance(leg, InboundLeg) and leg.invite is not None and not leg.invite.final_sent:
            leg.invite.respond(
                sip_status_of(cause) if cause is not HangupCause.NORMAL_CLEARING else 487
            )

    def _hangup_leg(self, leg: Leg, cause: HangupCause) -> None:
        self._release(leg, cause)
        self._end_leg(leg, cause, sip_status_of(cause), "system")

    def _end_leg(self, leg: Leg, cause: HangupCause, sip_code: int, by: str) -> None:
        if leg.ended:
            return
        dialog = leg.dialog
        leg.end(now_ms())
        if dialog is not None:
            self.engine.unregister_dialog(dialog)
        caller, callee = self._parties(leg)
        record = leg.record(cause, sip_code, by, caller, callee)
        self.engine.bus.publish(
            LegEnded(**self._common(leg), cause=cause, sip_code=sip_code, record=record)  # type: ignore[arg-type]
        )

    def _parties(self, leg: Leg) -> tuple[Party, Party]:
        """Who called whom, as `leg`'s history record tells it. A leg we rang was called
        by its parent (a transfer target by the transferee), as its LegRinging said; the
        caller's record names the party it talks to, else the one it rang first, else
        the number it dialled."""
        if leg is not self.caller:
            parent = next((c for c in self.legs if c.id == leg.parent_id), self.caller)
            return parent.party, leg.party
        other = self.other(leg) or self.pending or next(iter(self.legs[1:]), None)
        return leg.party, other.party if other is not None else Party(leg.destination)

    # -- the caller's side -----------------------------------------------------------------

    def caller_cancelled(self) -> None:
        invite = self.caller_invite
        if invite is not None and not invite.final_sent:
            invite.respond(487)
        self.hangup(self.caller, HangupCause.ORIGINATOR_CANCEL, 487, by="caller")

    def caller_acked(self, ack: SipRequest) -> None:
        """The caller's ACK of our 200: with a late offer it carries the answer."""
        callee = self.bridge[1] if self.bridge is not None else None
        if isinstance(callee, OutboundLeg) and callee.pending_ack is not None:
            dialog, invite = callee.pending_ack
            callee.pending_ack = None
            self.caller.remote_sdp = ack.body
            self._send_ack(callee, dialog, invite, body=ack.body)

    # -- in-dialog requests ----------------------------------------------------------------

    def in_dialog(self, leg: Leg, request: SipRequest, transaction: ServerTransaction) -> None:
        method = request.method
        if method == "BYE":
            transaction.respond(200)
            by = "caller" if leg is self.caller else "callee"
            if leg.transfer_to is not None and (
                (self._transfer is not None and self._transfer.referrer is leg)
                or (self.bridge is not None and leg not in self.bridge)
            ):
                # The referrer hangs up while its transfer rings (the transfer goes on),
                # or once it is done (RFC 5589 §6: the others stay bridged).
                self._end_leg(leg, HangupCause.BLIND_TRANSFER, 200, by)
                return
            self.hangup(leg, HangupCause.NORMAL_CLEARING, 200, by=by)
        elif method in ("INVITE", "UPDATE"):
            self._offer(leg, request, transaction)
        elif method == "INFO":
            self._info(leg, request, transaction)
        elif method == "REFER":
            self._refer(leg, request, transaction)
        elif method in ("OPTIONS", "NOTIFY"):
            transaction.respond(200)
        else:
            transaction.respond(501 if method not in self.engine.allow_set else 405)

    def _offer(self, leg: Leg, request: SipRequest, transaction: ServerTransaction) -> None:
        """A re-INVITE or UPDATE: relay a new offer, or answer a refresh ourselves."""
        other = self.other(leg)
        is_invite = request.method == "INVITE"
        info = inspect(request.body) if request.body else None
        unchanged = info is None or (
            info.origin_version is not None and info.origin_version == leg.remote_version
        )
        if unchanged or other is None or other.dialog is None:
            # A session refresh (RFC 4028), or nothing to relay to: answer with what we
            # last told this party.
            body = leg.local_sdp if is_invite else b""
            self._ok(leg, transaction, body)
            return
        if leg.negotiating or other.negotiating:
            transaction.respond(491)
            return
        leg.negotiating = other.negotiating = True
        relay = other.dialog.create_request(
            request.method, body=request.body, content_type=request.content_type or SDP
        )

        def answered(response: SipResponse) -> None:
            if response.status < 200:
                return
            leg.negotiating = other.negotiating = False
            if response.status >= 300:
                transaction.respond(response.status, response.reason)
                if response.status in (408, 481):
                    self.hangup(
                        other, cause_from_sip(response.status), response.status, by="system"
                    )
                return
            if is_invite and other.dialog is not None:
                self._send_ack(other, other.dialog, relay)
            leg.remote_sdp, other.local_sdp = request.body, request.body
            other.remote_sdp, leg.local_sdp = response.body, response.body
            self._ok(leg, transaction, response.body)
            self._hold_state(leg, info.holds if info else False)

        def failed(*_args: object) -> None:
            leg.negotiating = other.negotiating = False
            if not transaction.final_sent:
                transaction.respond(408)
            self.hangup(other, HangupCause.RECOVERY_ON_TIMER_EXPIRE, 408, by="system")

        self.engine.endpoint.send_request(
            relay,
            flow=_flow_of(other.dialog),
            on_response=answered,
            on_timeout=failed,
            on_transport_error=failed,
        )

    def _ok(self, leg: Leg, transaction: ServerTransaction, body: bytes) -> None:
        response = transaction.create_response(200)
        kind = transaction.flow_out.kind
        response.headers.add("Contact", f"<{self.engine.endpoint.contact_uri(kind)}>")
        if body:
            response.headers.add("Content-Type", SDP)
            response.body = body
        if isinstance(transaction, ServerInviteTransaction):
            self.engine.endpoint.send_2xx_reliably(transaction, response)
        else:
            transaction.send_response(response)

    def _hold_state(self, leg: Leg, holds: bool) -> None:
        now = now_ms()
        if holds and leg.hold(now):
            self.engine.bus.publish(LegHeld(**self._common(leg)))  # type: ignore[arg-type]
        elif not holds and leg.resume(now):
            self.engine.bus.publish(LegResumed(**self._common(leg)))  # type: ignore[arg-type]

    def _info(self, leg: Leg, request: SipRequest, transaction: ServerTransaction) -> None:
        content_type = (request.content_type or "").lower()
        digit = _dtmf_digit(content_type, request.body)
        if content_type == "application/json" and digit is None:
            # The web phone's own state notes (mute, hold flags): not for the other party.
            transaction.respond(200)
            return
        if digit is not None:
            self.engine.bus.publish(LegDtmf(**self._common(leg), digit=digit))  # type: ignore[arg-type]
        other = self.other(leg)
        if other is None or other.dialog is None:
            transaction.respond(200 if digit is not None else 481)
            return
        relay = other.dialog.create_request(
            "INFO", body=request.body, content_type=request.content_type
        )

        def relayed(response: SipResponse) -> None:
            if response.status >= 200 and not transaction.final_sent:
                transaction.respond(response.status, response.reason)

        self.engine.endpoint.send_request(
            relay,
            flow=_flow_of(other.dialog),
            on_response=relayed,
            on_timeout=lambda: relayed(request.create_response(408)),
            on_transport_error=lambda _e: relayed(request.create_response(503)),
        )

    # -- blind transfer ------------------------------------------------------------------

    def _refer(self, leg: Leg, request: SipRequest, transaction: ServerTransaction) -> None:
        transferee = self.other(leg)
        try:
            target = NameAddress.parse(request.headers.get("Refer-To") or "").uri
        except SipParseError:
            transaction.respond(400, "Bad Refer-To")
            return
        if not isinstance(target, SipUri) or not target.user:
            transaction.respond(400, "Bad Refer-To")
            return
        if transferee is None or self.pending is not None:
            transaction.respond(491 if self.pending is not None else 603)
            return
        transaction.respond(202)
        transfer = Transfer(transferee, leg, notify=True)
        self._transfer = transfer
        self._notify(leg, "SIP/2.0 100 Trying", final=False)
        self.engine.spawn(self.transfer(transfer, target.user))

    def blind_transfer(self, leg: Leg, destination: str) -> None:
        """The API's blind transfer: `leg`'s party leaves now, the other party rings
        `destination`."""
        transferee = self.other(leg)
        if transferee is None or self.pending is not None or self.ended:
            raise CallStateError("only an answered call without a transfer under way")
        transfer = Transfer(transferee, leg, notify=False)
        self._transfer = transfer
        self.engine.spawn(self.transfer(transfer, destination))

    async def transfer(self, transfer: Transfer, destination: str) -> None:
        """Ring `destination` for the transferee; once answered it replaces the referrer."""
        transferee, referrer = transfer.transferee, transfer.referrer
        offer = inspect(transferee.remote_sdp)
        route = await self.engine.router.route(
            self.domain_id, self.domain, destination, offer.kind if offer else None
        )
        if self.ended:
            return
        referrer.transfer_to = destination
        self.engine.bus.publish(
            LegTransferred(**self._common(referrer), destination=destination)  # type: ignore[arg-type]
        )
        if not transfer.notify:
            # Transferred from the API: the referrer is done at once.
            self._hangup_leg(referrer, HangupCause.BLIND_TRANSFER)
        if not isinstance(route, Route):
            self._notify_referrer(route.status, final=True)
            self._transfer = None
            if referrer.ended:
                self.fail(route.cause, route.status, by="system")
            return
        self.ring(route, parent=transferee, body=transferee.remote_sdp, transfer=transfer)

    def _transfer_answered(self, target: OutboundLeg) -> None:
        """The transfer target answered: give its session to the transferee."""
        transfer = self._transfer
        referrer = transfer.referrer if transfer is not None else None
        transferee = transfer.transferee if transfer is not None else None
        if transferee is None or transferee.dialog is None or target.dialog is None:
            self._hangup_leg(target, HangupCause.NORMAL_CLEARING)
            return
        reinvite = transferee.dialog.create_request(
            "INVITE", body=target.remote_sdp, content_type=SDP
        )

        def answered(response: SipResponse) -> None:
            if response.status < 200:
                return
            if response.status >= 300:
                self._hangup_leg(target, HangupCause.NORMAL_TEMPORARY_FAILURE)
                self.pending = None
                self._notify_referrer(response.status, final=True)
                self._transfer = None
                return
            assert transferee.dialog is not None
            self._send_ack(transferee, transferee.dialog, reinvite)
            transferee.remote_sdp, transferee.local_sdp = response.body, target.remote_sdp
            target.local_sdp = response.body
            now = now_ms()
            target.state = LegState.ACTIVE
            target.answered_at = target.bridged_at = now
            self.engine.bus.publish(LegAnswered(**self._common(target)))  # type: ignore[arg-type]
            self.bridge = (transferee, target)
            self.pending = None
            self._emit_bridged(transferee, target)
            if referrer is not None and not referrer.ended:
                self._notify_referrer(200, final=True)
                delay = self.engine.config.transfer_bye_delay
                self.engine.loop.call_later(delay, self._release_referrer, referrer)
            self._transfer = None

        self.engine.endpoint.send_request(
            reinvite,
            flow=_flow_of(transferee.dialog),
            on_response=answered,
            on_timeout=lambda: self.hangup(
                transferee, HangupCause.RECOVERY_ON_TIMER_EXPIRE, 408, by="system"
            ),
        )

    def _release_referrer(self, referrer: Leg) -> None:
        """The referrer did not hang up after its transfer completed: we do."""
        if not referrer.ended:
            self._hangup_leg(referrer, HangupCause.BLIND_TRANSFER)

    def _notify_referrer(self, status: int, *, final: bool) -> None:
        transfer = self._transfer
        if transfer is None or not transfer.notify or transfer.referrer.ended:
            return
        referrer = transfer.referrer
        reason = SipResponse(status).reason
        self._notify(referrer, f"SIP/2.0 {status} {reason}", final=final)

    def _notify(self, leg: Leg, fragment: str, *, final: bool) -> None:
        if leg.dialog is None or leg.ended:
            return
        state = "terminated;reason=noresource" if final else "active;expires=60"
        notify = leg.dialog.create_request(
            "NOTIFY",
            body=(fragment + "\r\n").encode(),
            content_type="message/sipfrag;version=2.0",
            headers=[("Event", "refer"), ("Subscription-State", state)],
        )
        self.engine.endpoint.send_request(notify, flow=_flow_of(leg.dialog))

    # -- commands from the APIs ------------------------------------------------------------

    def api_hangup(self, leg: Leg, cause: HangupCause | None = None) -> None:
        """Hang up `leg`'s side: a ringing callee declines, a ringing caller cancels, an
        answered call ends for everyone."""
        if leg.ended or self.ended:
            raise CallStateError("the call has ended")
        if leg is self.pending and leg.state is LegState.RINGING:
            declined = cause or HangupCause.USER_BUSY
            self._cancel_forks(self.pending)
            if self._transfer is not None:
                self._transfer_failed(self.pending, declined, sip_status_of(declined), "callee")
            else:
                self.fail(declined, sip_status_of(declined), by="callee")
            return
        if leg is self.caller and self.state is not CallState.ANSWERED:
            self.caller_cancelled()
            return
        by = "caller" if leg is self.caller else "callee"
        self.hangup(None, cause or HangupCause.NORMAL_CLEARING, 200, by=by)

    def api_hold(self, leg: Leg, hold: bool) -> None:
        """Hold or resume from the API: both parties get an offer (`inactive`, then
        `sendrecv`), so that neither hears the other while the call is held."""
        other = self.other(leg)
        if other is None or self.ended or leg.ended:
            raise CallStateError("only an answered call can be held")
        if hold == (leg.state is LegState.HELD):
            return
        direction = "inactive" if hold else "sendrecv"
        parties = [party for party in (other, leg) if party.local_sdp]
        if not parties:
            self._hold_state(leg, hold)
            return
        # The state changes once both phones have agreed to the new offers.
        waiting = len(parties)

        def agreed() -> None:
            nonlocal waiting
            waiting -= 1
            if waiting == 0:
                self._hold_state(leg, hold)

        for party in parties:
            self._reoffer(party, with_direction(party.local_sdp, direction), done=agreed)

    def api_dtmf(self, leg: Leg, digits: str) -> None:
        """Send `digits` to the other party as if `leg`'s phone had pressed them."""
        other = self.other(leg)
        if other is None or other.dialog is None or self.ended:
            raise CallStateError("only an answered call carries DTMF")
        for digit in digits:
            info = other.dialog.create_request(
                "INFO",
                body=f"Signal={digit}\r\nDuration=160\r\n".encode(),
                content_type="application/dtmf-relay",
            )
            self.engine.endpoint.send_request(
                info,
                flow=_flow_of(other.dialog),
                on_response=functools.partial(self._dtmf_sent, leg, digit),
            )

    def _dtmf_sent(self, leg: Leg, digit: str, response: SipResponse) -> None:
        if 200 <= response.status < 300 and not self.ended:
            self.engine.bus.publish(LegDtmf(**self._common(leg), digit=digit))  # type: ignore[arg-type]

    def _reoffer(self, leg: Leg, body: bytes, done: Callable[[], None] | None = None) -> None:
        """A re-INVITE of our own to `leg` with `body` as the new offer; `done` runs
        once it is accepted."""
        dialog = leg.dialog
        if dialog is None or leg.ended:
            return
        if leg.negotiating:
            # One offer at a time (RFC 3261 §14.1): the newest waits for the current.
            leg.queued_offer = (body, done)
            return
        request = dialog.create_request("INVITE", body=body, content_type=SDP)
        leg.negotiating = True

        def next_offer() -> None:
            queued, leg.queued_offer = leg.queued_offer, None
            if queued is not None:
                self._reoffer(leg, *queued)

        def answered(response: SipResponse) -> None:
            if response.status < 200:
                return
            leg.negotiating = False
            if response.status >= 300:
                log.info("re-INVITE to leg %s refused: %d", leg.id, response.status)
                next_offer()
                if response.status in (408, 481):
                    self.hangup(leg, cause_from_sip(response.status), response.status, by="system")
                return
            self._send_ack(leg, dialog, request)
            leg.local_sdp, leg.remote_sdp = body, response.body
            if done is not None:
                done()
            next_offer()

        def failed(*_args: object) -> None:
            leg.negotiating = False
            self.hangup(leg, HangupCause.RECOVERY_ON_TIMER_EXPIRE, 408, by="system")

        self.engine.endpoint.send_request(
            request,
            flow=_flow_of(dialog),
            on_response=answered,
            on_timeout=failed,
            on_transport_error=failed,
        )

    # -- sending ---------------------------------------------------------------------------

    def _send_ack(self, leg: Leg, dialog: Dialog, invite: SipRequest, body: bytes = b"") -> None:
        credentials = ack_credentials(invite)
        ack = dialog.create_ack_for(
            invite.cseq.number,
            body=body,
            content_type=SDP if body else None,
            headers=credentials,
        )
        if dialog is leg.dialog:
            leg.acked = (invite.cseq.number, credentials, body)
        self.engine.endpoint.send_ack(ack, flow=_flow_of(dialog))

    def _send_bye(self, dialog: Dialog, headers: tuple[tuple[str, str], ...] = ()) -> None:
        if dialog.terminated:
            return
        bye = dialog.create_request("BYE", headers=headers)
        dialog.terminate()
        self.engine.endpoint.send_request(bye, flow=_flow_of(dialog))


def _flow_of(dialog: Dialog) -> Flow | None:
    """In-dialog requests go back over the flow the dialog was made on, while it lives."""
    flow = dialog.flow
    return flow if flow is not None and not flow.closed else None


def _best_failure(statuses: list[int]) -> int:
    """RFC 3261 §16.7 in short: a 6xx wins, then busy, then the first answer."""
    for status in statuses:
        if status >= 600:
            return status
    if 486 in statuses:
        return 486
    return statuses[0] if statuses else 480


def _dtmf_digit(content_type: str, body: bytes) -> str | None:
    text = body.decode("utf-8", "replace").strip()
    if content_type == "application/dtmf-relay":
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal" and value.strip():
                return value.strip()[:1]
        return None
    if content_type == "application/dtmf" and text:
        return text[:1]
    return None
