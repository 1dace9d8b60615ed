"""Click-to-call: ring the user's own phone first, then connect it to a destination.

The flow (third-party call control, RFC 3725 §4.1, "Flow I"), Callboard being the
controller and having no media of its own:

    user's phones              Callboard                  destination
      <-- INVITE (no SDP) ------    (every contact of the user, in parallel)
      --- 180, 200 (offer) ---->    the first to answer wins; the others are cancelled
                                    ---- INVITE (the user's offer) -->
                                    <--- 180, 200 (answer) -----------
                                    ---- ACK ------------------------>
      <-- ACK (the answer) -----
            <================== media, end to end ==================>

Why this flow: it is the only one of RFC 3725's that needs no session description of the
controller's own. Flows II-IV first give the user a "black hole" answer and then
re-INVITE both sides, which means writing SDP for the phones (codec choices, ICE and
DTLS roles for a WebRTC browser), which a signalling-only B2BUA cannot do right. Flow I
just carries the user's offer to the destination and the destination's answer back,
unchanged, so any media both ends support works, WebRTC included.

Its known cost (RFC 3725 says it too): the user's 200 cannot be acknowledged until the
destination answers, and a phone that gets no ACK for 64*T1 (32 s) gives up and sends
BYE (RFC 3261 §13.3.1.4). So the destination rings for at most `MAX_DESTINATION_RING`
seconds. Meanwhile the user's phone retransmits its 200 and hears silence (there is no
media server to play ringback); once the ACK is sent, a retransmitted 200 is answered
with the same ACK again.

The stages are an explicit state machine (`Stage`), next to the call's own `CallState`:

    RINGING_USER → DIALING → RINGING_DESTINATION → CONNECTED → ENDED
          └───────────┴──────────────┴──────────────────────────┘ (any → ENDED)

Every stage is visible as the ordinary leg events: the user's leg rings (direction
outbound, the destination as the party called) and becomes active when the user
answers; the destination's leg rings, and both are bridged once it answers. If the user
declines or does not answer, the destination is never called. If the destination is
busy, unanswered or unreachable, the user's answered leg is released: its 2xx is
acknowledged with an answer rejecting every stream (the offer must be answered) and
then hung up with a `Reason` header carrying the destination's status. Once connected
it is an ordinary call (hold, DTMF, transfer and hangup work as on any other).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from callboard.calls.call import Call, CallState, CallStateError
from callboard.calls.causes import HangupCause, cause_from_sip, sip_status_of
from callboard.calls.directory import UserInfo
from callboard.calls.events import Direction, LegAnswered, Party
from callboard.calls.legs import Leg, LegState, OutboundLeg, new_id
from callboard.calls.routing import Route, media_of
from callboard.calls.sdp import MediaKind, inspect, rejecting_answer
from callboard.clock import now_ms
from callboard.sip.dialog import Dialog
from callboard.sip.location import Binding
from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.transactions import ServerTransaction

if TYPE_CHECKING:
    from callboard.calls.engine import CallEngine

log = logging.getLogger(__name__)

#: The longest the destination may ring: the user's phone waits 64*T1 = 32 s for the ACK
#: of its 200 (RFC 3261 §13.3.1.4), and the ACK can only follow the destination's answer.
MAX_DESTINATION_RING = 30.0


class Stage(enum.Enum):
    RINGING_USER = "ringing_user"
    #: The user answered; the destination is being routed.
    DIALING = "dialing"
    RINGING_DESTINATION = "ringing_destination"
    CONNECTED = "connected"
    ENDED = "ended"


_STAGES: dict[Stage, frozenset[Stage]] = {
    Stage.RINGING_USER: frozenset({Stage.DIALING, Stage.ENDED}),
    Stage.DIALING: frozenset({Stage.RINGING_DESTINATION, Stage.ENDED}),
    Stage.RINGING_DESTINATION: frozenset({Stage.CONNECTED, Stage.ENDED}),
    Stage.CONNECTED: frozenset({Stage.ENDED}),
    Stage.ENDED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class CallerId:
    """What the destination is shown as the caller; None parts keep the user's own (and,
    for the number, a trunk's configured caller id)."""

    number: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class OriginateOptions:
    #: How long the user's phones ring, and then the destination (seconds).
    user_timeout: float
    destination_timeout: float
    caller_id: CallerId | None = None
    #: Copied into every leg of the call: its events' payload and its history records.
    variables: Mapping[str, str] = field(default_factory=dict)
    #: Carried as is in the `params` of the user's ringing event: a client's own hints
    #: for its phone (the webitel-sdk answers its web phone itself on `autoAnswer`).
    ringing_params: Mapping[str, Any] = field(default_factory=dict)


class Refusal(enum.StrEnum):
    NO_DEVICE = "no_device"
    OWN_NUMBER = "own_number"
    UNKNOWN_DESTINATION = "unknown_destination"
    DESTINATION_UNAVAILABLE = "destination_unavailable"
    INCOMPATIBLE_MEDIA = "incompatible_media"


class OriginateRefused(Exception):
    """The click-to-call cannot start at all (nothing was rung)."""

    def __init__(self, refusal: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.refusal = refusal
        self.detail = detail


async def originate(
    engine: CallEngine, user: UserInfo, destination: str, options: OriginateOptions
) -> ClickToCall:
    """Start a click-to-call from `user` to `destination`; it rings the user's phones
    before returning. Raises `OriginateRefused` when it could not even start: the user
    has no registered phone, the destination is unknown or unreachable now, or no phone
    of the user speaks media the destination could take."""
    mine = await engine.router.ring_user(user, None)
    if not isinstance(mine, Route):
        raise OriginateRefused(
            Refusal.NO_DEVICE, f"user {user.user_id} has no registered device to ring"
        )
    if destination == user.extension:
        raise OriginateRefused(Refusal.OWN_NUMBER, "the destination is the user's own extension")
    target = await engine.router.route(user.domain_id, user.domain, destination, None)
    if not isinstance(target, Route):
        if target.status == 404:
            raise OriginateRefused(
                Refusal.UNKNOWN_DESTINATION,
                f"{destination} is neither an extension of the domain nor a number a trunk dials",
            )
        raise OriginateRefused(
            Refusal.DESTINATION_UNAVAILABLE,
            f"{destination} cannot be called now ({target.status} {target.reason})",
        )
    # Without a media relay only phones that speak what the destination speaks can talk
    # to it: ring those, or refuse now rather than after the user answered.
    kinds = {MediaKind.RTP} if target.trunk is not None else {media_of(c) for c in target.contacts}
    usable = [c for c in mine.contacts if media_of(c) in kinds]
    if not usable:
        spoken = " or ".join(sorted(kinds))
        raise OriginateRefused(
            Refusal.INCOMPATIBLE_MEDIA,
            f"none of the user's devices speaks {spoken} media as {destination} does, "
            "and there is no media relay yet",
        )
    call = ClickToCall(engine, mine.party, user.domain_id, user.domain, destination, options)
    call.start(usable, callee=target.party)
    return call


class ClickToCall(Call):
    """A call whose first leg is the user we rang on their behalf (see the module)."""

    def __init__(
        self,
        engine: CallEngine,
        user: Party,
        domain_id: int,
        domain: str,
        destination: str,
        options: OriginateOptions,
    ) -> None:
        leg = OutboundLeg(
            party=user,
            direction=Direction.OUTBOUND,
            domain_id=domain_id,
            call_id=new_id(),
            destination=destination,
            sip_call_id="",
            variables=dict(options.variables),
        )
        super().__init__(engine, leg, domain)
        self.user_leg = leg
        self.destination = destination
        self.options = options
        self.variables = dict(options.variables)
        self.stage = Stage.RINGING_USER

    def _advance(self, stage: Stage) -> None:
        if stage not in _STAGES[self.stage]:
            raise RuntimeError(f"click-to-call {self.id}: no stage {self.stage} → {stage}")
        self.stage = stage

    # -- stage 1: the user's phones ------------------------------------------------------

    def start(self, contacts: Sequence[Binding], *, callee: Party) -> None:
        """Ring every one of `contacts` with an INVITE without an offer; they show the
        destination as the caller, since that is who the user is about to talk to."""
        leg = self.user_leg
        self.engine.calls[self.id] = self
        self.engine.leg_added(self, leg)
        self._enter(CallState.RINGING)
        self.pending = leg
        shown = Party(self.destination, callee.name or self.destination, callee.kind)
        for binding in contacts:
            leg.forks.append(self._contact_fork(leg, binding, b"", shown))
        leg.sip_call_id = leg.forks[0].request.call_id
        self.emit_ringing(leg, callee=callee, caller=leg.party, params=self.options.ringing_params)
        for fork in leg.forks:
            self._send_fork(leg, fork)
        self._ring_timer = self.engine.loop.call_later(
            self.options.user_timeout, self._ring_timeout, leg
        )

    def _answered(
        self, leg: OutboundLeg, dialog: Dialog, invite: SipRequest, response: SipResponse
    ) -> None:
        if leg is self.user_leg:
            self._user_answered(dialog, invite, response)
        elif self.stage is Stage.RINGING_DESTINATION:
            self._destination_answered(leg, dialog, invite, response)
        else:  # pragma: no cover - a leg is only rung in those two stages
            self._hangup_leg(leg, HangupCause.NORMAL_CLEARING)

    def _user_answered(self, dialog: Dialog, invite: SipRequest, response: SipResponse) -> None:
        """The user answered with their offer: hold the ACK, call the destination."""
        leg = self.user_leg
        leg.pending_ack = (dialog, invite)
        self.pending = None
        leg.state = LegState.ACTIVE
        leg.answered_at = now_ms()
        self.engine.bus.publish(LegAnswered(**self._common(leg)))  # type: ignore[arg-type]
        self._advance(Stage.DIALING)
        offer = inspect(response.body) if response.body else None
        if offer is None:
            # An INVITE without an offer must be answered with one (RFC 3261 §13.2.1).
            self.fail(HangupCause.INCOMPATIBLE_DESTINATION, 488, by="system")
            return
        self.engine.spawn(self._dial(response.body, offer.kind))

    async def _dial(self, offer: bytes, kind: MediaKind) -> None:
        try:
            route = await self.engine.router.route(
                self.domain_id, self.domain, self.destination, kind
            )
        except Exception:
            log.exception("click-to-call %s: routing %s failed", self.id, self.destination)
            self.fail(HangupCause.NORMAL_TEMPORARY_FAILURE, 503, by="system")
            return
        if self.ended or self.stage is not Stage.DIALING:
            return
        if not isinstance(route, Route):
            self.fail(route.cause, route.status, by="system")
            return
        self._advance(Stage.RINGING_DESTINATION)
        self.ring(
            route,
            parent=self.user_leg,
            body=offer,
            timeout=self.options.destination_timeout,
            shown=self._shown(),
        )

    def _parties(self, leg: Leg) -> tuple[Party, Party]:
        """The destination's history record names the caller it was shown."""
        caller, callee = super()._parties(leg)
        shown = self._shown()
        if shown is not None and leg is not self.caller and leg.parent_id == self.user_leg.id:
            return shown, callee
        return caller, callee

    def _shown(self) -> Party | None:
        chosen = self.options.caller_id
        if chosen is None:
            return None
        user = self.user_leg.party
        number, name = chosen.number or user.number, chosen.name or user.name
        return Party(number, name, user.kind, user.user_id)

    # -- stage 2: the destination --------------------------------------------------------

    def _destination_answered(
        self, leg: OutboundLeg, dialog: Dialog, invite: SipRequest, response: SipResponse
    ) -> None:
        """The destination answered the user's offer: its answer goes in the user's ACK."""
        self._send_ack(leg, dialog, invite)
        user = self.user_leg
        pending = user.pending_ack
        if pending is None or not response.body:
            # No answer to the user's offer (or no user left): nothing to connect.
            self._send_bye(dialog)
            self.fail(HangupCause.INCOMPATIBLE_DESTINATION, 488, by="system")
            return
        user.pending_ack = None
        user_dialog, user_invite = pending
        # Kept by `_send_ack` (leg.acked): a retransmitted 200 gets this ACK again.
        self._send_ack(user, user_dialog, user_invite, body=response.body)
        user.local_sdp = response.body
        now = now_ms()
        self._enter(CallState.ANSWERED)
        self.pending = None
        self.bridge = (user, leg)
        user.bridged_at = now
        leg.state = LegState.ACTIVE
        leg.answered_at = leg.bridged_at = now
        self._advance(Stage.CONNECTED)
        self.engine.bus.publish(LegAnswered(**self._common(leg)))  # type: ignore[arg-type]
        self._emit_bridged(user, leg)

    # -- failures and hangups ------------------------------------------------------------

    def _outbound_failed(self, leg: OutboundLeg, status: int) -> None:
        if leg is self.user_leg:
            # The user declined (or their phones could not be reached): nobody else rang.
            by = "system" if status in (408, 503) else "caller"
            self.fail(cause_from_sip(status), status, by=by)
            return
        super()._outbound_failed(leg, status)

    def api_hangup(self, leg: Leg, cause: HangupCause | None = None) -> None:
        """Before the two are connected, hanging up the user's leg ends the attempt."""
        if leg is self.user_leg and self.state is not CallState.ANSWERED:
            if leg.ended or self.ended:
                raise CallStateError("the call has ended")
            chosen = cause or HangupCause.ORIGINATOR_CANCEL
            self.hangup(None, chosen, sip_status_of(chosen), by="caller")
            return
        super().api_hangup(leg, cause)

    def caller_cancelled(self) -> None:
        self.hangup(None, HangupCause.ORIGINATOR_CANCEL, 487, by="caller")

    def in_dialog(self, leg: Leg, request: SipRequest, transaction: ServerTransaction) -> None:
        if leg is self.user_leg and self.state is not CallState.ANSWERED:
            if request.method == "BYE":
                # The user hung up while the destination rang (or gave up waiting for
                # our ACK): the attempt is over, and the dialog needs no ACK any more.
                transaction.respond(200)
                leg.pending_ack = None
                self.hangup(leg, HangupCause.ORIGINATOR_CANCEL, 487, by="caller")
                return
            if request.method in ("INVITE", "UPDATE"):
                # Its own INVITE transaction is still open (RFC 3261 §14.2).
                transaction.respond(491)
                return
        super().in_dialog(leg, request, transaction)

    def _release(self, leg: Leg, cause: HangupCause) -> None:
        """The user's answered but unacknowledged leg: answer its offer (rejecting every
        stream), then hang up, saying why in a `Reason` header (RFC 3326)."""
        if leg is self.user_leg and self.user_leg.pending_ack is not None:
            dialog, invite = self.user_leg.pending_ack
            self.user_leg.pending_ack = None
            self._send_ack(leg, dialog, invite, body=rejecting_answer(leg.remote_sdp))
            self._send_bye(dialog, headers=_reason(cause))
            return
        super()._release(leg, cause)

    def hangup(self, source: Leg | None, cause: HangupCause, sip_code: int, *, by: str) -> None:
        if self.ended:
            return
        super().hangup(source, cause, sip_code, by=by)
        self._advance(Stage.ENDED)


def _reason(cause: HangupCause) -> tuple[tuple[str, str], ...]:
    status = sip_status_of(cause)
    if status < 300:
        return ()
    return (("Reason", f'SIP;cause={status};text="{SipResponse(status).reason}"'),)
