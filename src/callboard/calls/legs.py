"""Legs: one party of a call and the SIP dialog that reaches it.

The caller's leg answers an INVITE we received (`InboundLeg`, a UAS); every other leg is
an INVITE we sent (`OutboundLeg`, a UAC), possibly forked to several contacts of one
user, of which the first to answer wins.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from callboard.calls.causes import HangupCause
from callboard.calls.directory import TrunkInfo
from callboard.calls.events import Direction, LegRecord, Party
from callboard.calls.sdp import inspect
from callboard.clock import now_ms
from callboard.sip.dialog import Dialog
from callboard.sip.location import Binding
from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.transactions import ClientInviteTransaction, ServerInviteTransaction
from callboard.sip.transport import Flow


class LegState(StrEnum):
    RINGING = "ringing"
    ACTIVE = "active"
    HELD = "held"
    ENDED = "ended"


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(eq=False)
class Leg:
    party: Party
    direction: Direction
    domain_id: int
    call_id: str
    destination: str
    sip_call_id: str
    id: str = field(default_factory=new_id)
    parent_id: str | None = None
    state: LegState = LegState.RINGING
    dialog: Dialog | None = None
    created_at: int = field(default_factory=now_ms)
    answered_at: int | None = None
    bridged_at: int | None = None
    hangup_at: int | None = None
    held_since: int | None = None
    held_ms: int = 0
    #: The last session description this party sent us, and the last we sent it.
    remote_sdp: bytes = b""
    local_sdp: bytes = b""
    #: An offer/answer exchange with this party is under way (RFC 3261 §14.1: 491).
    negotiating: bool = False
    #: An offer of ours waiting for the current exchange to end, and what to do after.
    queued_offer: tuple[bytes, Callable[[], None] | None] | None = None
    trunk_id: int | None = None
    transfer_to: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    #: What the last ACK we sent this party for a 2xx was made of (CSeq number,
    #: credentials, body), to build it again if that 2xx comes again. Not the ACK itself:
    #: that would be some 1.5 KB for every call held.
    acked: tuple[int, tuple[tuple[str, str], ...], bytes] | None = None

    @property
    def user_id(self) -> int | None:
        return self.party.user_id

    @property
    def ended(self) -> bool:
        return self.state is LegState.ENDED

    @property
    def remote_version(self) -> str | None:
        info = inspect(self.remote_sdp) if self.remote_sdp else None
        return info.origin_version if info else None

    def hold(self, now: int) -> bool:
        if self.state is not LegState.ACTIVE:
            return False
        self.state = LegState.HELD
        self.held_since = now
        return True

    def resume(self, now: int) -> bool:
        if self.state is not LegState.HELD:
            return False
        self.state = LegState.ACTIVE
        if self.held_since is not None:
            self.held_ms += now - self.held_since
            self.held_since = None
        return True

    def end(self, now: int) -> None:
        if self.held_since is not None:
            self.held_ms += now - self.held_since
            self.held_since = None
        self.state = LegState.ENDED
        self.hangup_at = now
        if self.dialog is not None:
            self.dialog.terminate()

    def record(
        self, cause: HangupCause, sip_code: int, hangup_by: str, caller: Party, callee: Party
    ) -> LegRecord:
        return LegRecord(
            leg_id=self.id,
            call_id=self.call_id,
            parent_id=self.parent_id,
            domain_id=self.domain_id,
            user_id=self.user_id,
            direction=self.direction,
            caller=caller,
            callee=callee,
            destination=self.destination,
            sip_call_id=self.sip_call_id,
            created_at=self.created_at,
            answered_at=self.answered_at,
            bridged_at=self.bridged_at,
            hangup_at=self.hangup_at or now_ms(),
            hold_sec=self.held_ms // 1000,
            cause=cause,
            sip_code=sip_code,
            hangup_by=hangup_by,
            trunk_id=self.trunk_id,
            transfer_to=self.transfer_to,
            variables=dict(self.variables),
        )


@dataclass(eq=False)
class InboundLeg(Leg):
    """The caller: we answer their INVITE."""

    invite: ServerInviteTransaction | None = None
    #: The caller sent no offer: it comes in our 200 and its answer in the ACK.
    late_offer: bool = False


@dataclass(eq=False)
class Fork:
    """One INVITE of an outbound leg, to one contact."""

    request: SipRequest
    transaction: ClientInviteTransaction | None = None
    binding: Binding | None = None
    flow: Flow | str | None = None
    failed: SipResponse | None = None
    done: bool = False
    #: Credentials were already sent once (a second challenge means they are wrong).
    authenticated: bool = False


@dataclass(eq=False)
class OutboundLeg(Leg):
    """A party we call: one fork per contact until one answers."""

    forks: list[Fork] = field(default_factory=list)
    trunk: TrunkInfo | None = None
    #: The 2xx that answered, until its ACK can be sent (late offer: after the caller's).
    pending_ack: tuple[Dialog, SipRequest] | None = None
