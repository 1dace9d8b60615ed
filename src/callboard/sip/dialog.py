"""Dialogs (RFC 3261 §12): the state two user agents share between an INVITE and its BYE.

A :class:`Dialog` is made from either side:

* :meth:`Dialog.from_uas` from a request received and the 1xx/2xx (with a To tag) the TU
  answers it with;
* :meth:`Dialog.from_uac` from a request sent and a 1xx/2xx with a To tag received.

It keeps the dialog id (Call-ID, local and remote tag), the local and remote URI, the
local and remote CSeq, the remote target, the route set and the secure flag, and builds
in-dialog requests (:meth:`Dialog.create_request`, :meth:`Dialog.create_ack`) with the
Request-URI and Route header fields of §12.2.1.1, for loose and strict routers alike.
Incoming in-dialog requests go through :meth:`Dialog.receive_request`, which checks the
remote CSeq (a lower one must get 500, §12.2.2) and follows target refreshes.

The dialog also remembers the :class:`Flow` it was made on: a TU sends in-dialog
requests on it (``endpoint.send_request(dialog.create_request("BYE"), flow=dialog.flow)``)
to reach a peer behind NAT or over WebSocket, whose Contact cannot be reached directly.
"""

from __future__ import annotations

import dataclasses
import enum
import secrets
from collections.abc import Iterable
from typing import NamedTuple

from callboard.sip.errors import SipParseError
from callboard.sip.headers import Headers
from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.transport import Flow
from callboard.sip.uri import AbsoluteUri, NameAddress, SipUri

__all__ = [
    "TARGET_REFRESH_METHODS",
    "Dialog",
    "DialogId",
    "DialogState",
    "incoming_dialog_id",
    "response_dialog_id",
]

#: Requests whose Contact replaces the remote target (RFC 3261 §12.2, RFC 3311, RFC 6665).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
# URI parameters not allowed in a Request-URI (§19.1.1, Table 1).
_NOT_IN_REQUEST_URI = ("method",)


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogId(NamedTuple):
    """Call-ID, local tag and remote tag, from this side's point of view."""

    call_id: str
    local_tag: str
    remote_tag: str


def incoming_dialog_id(request: SipRequest) -> DialogId | None:
    """The id of the dialog an incoming request belongs to (local tag = its To tag), or
    None for a request outside any dialog."""
    to_tag = request.to_tag
    if to_tag is None:
        return None
    return DialogId(request.call_id, to_tag, request.from_tag or "")


def response_dialog_id(response: SipResponse) -> DialogId | None:
    """The id of the dialog a response to our request belongs to (local tag = its From
    tag, remote tag = its To tag), or None when it has no To tag."""
    to_tag = response.to_tag
    if to_tag is None:
        return None
    return DialogId(response.call_id, response.from_tag or "", to_tag)


def _without_tag(address: NameAddress) -> NameAddress:
    if "tag" not in address.params:
        return address
    params = {name: value for name, value in address.params.items() if name != "tag"}
    return dataclasses.replace(address, params=params)


def _first_contact(message: SipRequest | SipResponse) -> SipUri | AbsoluteUri | None:
    contacts = message.contacts
    return contacts[0].uri if contacts else None


def _request_uri_form(uri: SipUri | AbsoluteUri) -> SipUri | AbsoluteUri:
    """``uri`` without the parameters and headers a Request-URI cannot carry."""
    if not isinstance(uri, SipUri):
        return uri
    if not uri.headers and not any(name in uri.params for name in _NOT_IN_REQUEST_URI):
        return uri
    params = {k: v for k, v in uri.params.items() if k not in _NOT_IN_REQUEST_URI}
    return SipUri(uri.host, uri.user, uri.password, uri.port, params, (), uri.scheme)


def initial_cseq() -> int:
    """A first local CSeq number: random, below 2**31 (§8.1.1.5, §12.2.1.1)."""
    return secrets.randbelow(2**31 - 1) + 1


class Dialog:
    """One dialog, from one side. Mutable: CSeqs, remote target, state."""

    __slots__ = (
        "call_id",
        "flow",
        "local_cseq",
        "local_tag",
        "local_target",
        "local_uri",
        "remote_cseq",
        "remote_tag",
        "remote_target",
        "remote_uri",
        "route_set",
        "secure",
        "state",
    )

    def __init__(
        self,
        *,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_uri: NameAddress,
        remote_uri: NameAddress,
        remote_target: SipUri | AbsoluteUri,
        route_set: tuple[NameAddress, ...] = (),
        local_cseq: int | None = None,
        remote_cseq: int | None = None,
        local_target: SipUri | AbsoluteUri | None = None,
        secure: bool = False,
        state: DialogState = DialogState.CONFIRMED,
        flow: Flow | None = None,
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        #: The local and remote URI (From and To of our requests), without tags.
        self.local_uri = _without_tag(local_uri)
        self.remote_uri = _without_tag(remote_uri)
        #: Where in-dialog requests go (the peer's Contact).
        self.remote_target = remote_target
        #: The route set, in the order our requests visit it.
        self.route_set = route_set
        #: The last CSeq number we used (None: none yet), and the peer's.
        self.local_cseq = local_cseq
        self.remote_cseq = remote_cseq
        #: Our Contact, put in target refresh requests we build.
        self.local_target = local_target
        self.secure = secure
        self.state = state
        #: The flow the dialog was made on, to send in-dialog requests on.
        self.flow = flow

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def from_uas(
        cls, request: SipRequest, response: SipResponse, *, flow: Flow | None = None
    ) -> Dialog:
        """The dialog a UAS makes when it answers ``request`` with ``response`` (a
        101-299 carrying its To tag), §12.1.1. Raises :class:`SipParseError` when the
        request has no Contact (the TU answers 400 then)."""
        local_tag = response.to_tag
        if local_tag is None or not 100 < response.status < 300:
            raise ValueError("a dialog needs a 101-299 response with a To tag")
        remote_target = _first_contact(request)
        if remote_target is None:
            raise SipParseError("Missing Contact Header")
        secure = request.uri.scheme == "sips" and (flow is None or flow.kind.secure)
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_tag or "",
            local_uri=request.to,
            remote_uri=request.from_,
            remote_target=remote_target,
            route_set=request.record_routes,
            remote_cseq=request.cseq.number,
            local_target=_first_contact(response),
            secure=secure,
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            flow=flow,
        )

    @classmethod
    def from_uac(
        cls, request: SipRequest, response: SipResponse, *, flow: Flow | None = None
    ) -> Dialog:
        """The dialog a UAC makes from its ``request`` and a 101-299 ``response`` with a
        To tag, §12.1.2: the route set is the response's Record-Route reversed."""
        remote_tag = response.to_tag
        if remote_tag is None or not 100 < response.status < 300:
            raise ValueError("a dialog needs a 101-299 response with a To tag")
        return cls(
            call_id=request.call_id,
            local_tag=request.from_tag or "",
            remote_tag=remote_tag,
            local_uri=request.from_,
            remote_uri=response.to,
            remote_target=_first_contact(response) or request.uri,
            route_set=tuple(reversed(response.record_routes)),
            local_cseq=request.cseq.number,
            local_target=_first_contact(request),
            secure=request.uri.scheme == "sips",
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            flow=flow,
        )

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @property
    def terminated(self) -> bool:
        return self.state is DialogState.TERMINATED

    def confirm(self) -> None:
        """The UAS sent its 2xx: an early dialog is confirmed."""
        if self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED

    # -- requests we send ----------------------------------------------------------------

    def create_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> SipRequest:
        """A new in-dialog request with the next local CSeq (§12.2.1.1). For a
        re-INVITE pass ``"INVITE"``. ACK and CANCEL have their own builders."""
        if method in ("ACK", "CANCEL"):
            raise ValueError(f"build {method} with create_ack() or create_cancel()")
        self.local_cseq = initial_cseq() if self.local_cseq is None else self.local_cseq + 1
        return self._build(method, self.local_cseq, body, content_type, headers)

    def create_ack(
        self,
        invite: SipRequest,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> SipRequest:
        """The ACK of a 2xx to ``invite`` (§13.2.2.4): built like any in-dialog request
        but with the INVITE's CSeq number (method ACK) and credentials. The endpoint's
        ``send_ack`` gives it a new branch."""
        credentials = ack_credentials(invite)
        return self.create_ack_for(
            invite.cseq.number,
            body=body,
            content_type=content_type,
            headers=(*credentials, *headers),
        )

    def create_ack_for(
        self,
        cseq: int,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> SipRequest:
        """The ACK of a 2xx to the INVITE with CSeq number ``cseq``, its credentials
        among ``headers`` (see :func:`ack_credentials`): what a UAC sends again when the
        2xx comes again and the INVITE itself is long gone."""
        return self._build("ACK", cseq, body, content_type, headers)

    def request_uri_and_routes(self) -> tuple[SipUri | AbsoluteUri, list[str]]:
        """The Request-URI and Route values of the next request (§12.2.1.1): with a loose
        first route (or none), the remote target and the route set; with a strict one,
        its URI and the rest of the route set followed by the remote target."""
        routes = self.route_set
        if not routes:
            return self.remote_target, []
        first = routes[0].uri
        if isinstance(first, SipUri) and first.lr:
            return self.remote_target, [str(route) for route in routes]
        values = [str(route) for route in routes[1:]]
        values.append(f"<{self.remote_target}>")
        return _request_uri_form(first), values

    def _build(
        self,
        method: str,
        cseq: int,
        body: bytes,
        content_type: str | None,
        extra: Iterable[tuple[str, str]],
    ) -> SipRequest:
        uri, routes = self.request_uri_and_routes()
        headers = Headers()
        for route in routes:
            headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        headers.add("From", str(self.local_uri.with_tag(self.local_tag)))
        headers.add("To", str(self.remote_uri.with_tag(self.remote_tag)))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{cseq} {method}")
        if self.local_target is not None and method in TARGET_REFRESH_METHODS:
            headers.add("Contact", f"<{self.local_target}>")
        for name, value in extra:
            headers.add(name, value)
        if content_type is not None:
            headers.set("Content-Type", content_type)
        return SipRequest(method, uri, headers, body)

    # -- what we receive -----------------------------------------------------------------

    def receive_request(self, request: SipRequest) -> bool:
        """Account for an in-dialog request (§12.2.2). False when its CSeq is lower than
        the remote CSeq: the TU must answer 500 and do nothing else. A target refresh
        request with a Contact replaces the remote target."""
        method = request.method
        if method == "ACK" or method == "CANCEL":
            return True
        number = request.cseq.number
        if self.remote_cseq is not None and number < self.remote_cseq:
            return False
        self.remote_cseq = number
        if method in TARGET_REFRESH_METHODS:
            target = _first_contact(request)
            if target is not None:
                self.remote_target = target
        return True

    def receive_response(self, request: SipRequest, response: SipResponse) -> None:
        """Account for a response to an in-dialog (or the dialog-creating) request we
        sent: a 2xx confirms an early dialog (its Record-Route and Contact are taken
        again, as they may differ from the 1xx's); a 1xx/2xx to a target refresh with a
        Contact replaces the remote target; a 481 or 408 ends the dialog (§12.2.1.2);
        a non-2xx final to the INVITE ends an early dialog."""
        status = response.status
        if status == 481 or status == 408:
            self.state = DialogState.TERMINATED
            return
        if status >= 300:
            if self.state is DialogState.EARLY and request.method == "INVITE":
                self.state = DialogState.TERMINATED
            return
        if request.method not in TARGET_REFRESH_METHODS:
            return
        if self.state is DialogState.EARLY and status >= 200:
            self.state = DialogState.CONFIRMED
            if "record-route" in response.headers:
                self.route_set = tuple(reversed(response.record_routes))
        target = _first_contact(response)
        if target is not None:
            self.remote_target = target

    def __repr__(self) -> str:
        return (
            f"<Dialog {self.state.value} {self.call_id} "
            f"local={self.local_tag} remote={self.remote_tag}>"
        )


def ack_credentials(invite: SipRequest) -> tuple[tuple[str, str], ...]:
    """The credentials of ``invite`` that its ACK repeats (§13.2.2.4); most INVITEs a
    B2BUA sends carry none, and this runs for every ACK."""
    headers = invite.headers
    found: tuple[tuple[str, str], ...] = ()
    for name in ("Authorization", "Proxy-Authorization"):
        if name in headers:
            found += tuple((name, value) for value in headers.lines(name))
    return found
