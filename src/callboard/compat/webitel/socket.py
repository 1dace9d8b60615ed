"""The WebSocket API the published `webitel-sdk` client speaks (`<endpoint>/websocket`).

Every client frame is a request `{seq, action, data?}` answered exactly once with
`{status: "OK", seq_reply, data?}` or `{status: "FAIL", seq_reply, error}`; events go out
as `{event, data, seq}` where `seq` is the user's own event sequence. The first request
must be `authentication_challenge`: it gets `hello` first, then its reply, as the
Webitel engine does (the SDK acts on `hello`).

Outgoing frames pass through one bounded queue per connection: a client that does not
read fast enough is disconnected rather than waited for; on reconnect it asks for what
it missed with `events_since`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from callboard import __version__
from callboard.calls.control import CallControl, Controller
from callboard.compat.webitel import agent as cc
from callboard.compat.webitel import invite, watch
from callboard.compat.webitel.calls import call_item
from callboard.compat.webitel.events import event_frame
from callboard.directory.permissions import Permission
from callboard.directory.principal import Principal
from callboard.directory.tokens import TokensRevoked
from callboard.errors import AppError, InvalidInput, LicenseRequired, Unauthenticated
from callboard.realtime.hub import UserEvent
from callboard.realtime.outbox import Outbox
from callboard.runtime import Runtime

log = logging.getLogger(__name__)

AUTH_TIMEOUT = 20.0
PING_INTERVAL_MS = 30_000
#: Frames a socket may have waiting before its client counts as too slow and is dropped.
QUEUE_LIMIT = 2000

Handler = Callable[["WebitelSession", dict[str, Any]], Awaitable[dict[str, Any] | None]]


class SlowClient(Exception):
    pass


def _error(detail: str, id: str, code: int = 400) -> dict[str, Any]:
    return {"id": id, "status": HTTPStatus(code).phrase, "detail": detail, "code": code}


def _encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":")) + "\n"


class _LastFrame:
    """The frame of the last event, encoded once for all the sockets that get it.

    The hub hands each event to every socket of its user in turn (tabs, screens, a
    wallboard's many): encoding it once per socket made the fan-out, which runs inside
    the call engine's own step, cost a JSON encoding per socket (bench/events.py).
    """

    def __init__(self) -> None:
        self._event: UserEvent | None = None
        self._node_id = ""
        self._text: str | None = None

    def text(self, numbered: UserEvent, node_id: str) -> str | None:
        """The frame as sent; None for an event the SDK has no name for."""
        if numbered is not self._event or node_id != self._node_id:
            frame = event_frame(numbered, node_id)
            self._event, self._node_id = numbered, node_id
            self._text = None if frame is None else _encode(frame)
        return self._text


_LAST_FRAME = _LastFrame()


class WebitelSession:
    def __init__(self, websocket: WebSocket, runtime: Runtime) -> None:
        self.websocket = websocket
        self.runtime = runtime
        self.sock_id = f"sock-{secrets.token_hex(8)}"
        self.principal: Principal | None = None
        self._outbox = Outbox(QUEUE_LIMIT)
        self._writer_task: asyncio.Task[None] | None = None
        #: Events raised while a request is handled wait for its reply: the reply first,
        #: then what it caused, as the Webitel engine does.
        self._held: list[str] | None = None
        self._unsubscribe_revoked: Callable[[], None] = lambda: None
        #: What to undo when the socket closes (e.g. an agent watch), by key: a request
        #: repeated on one socket is registered once.
        self.cleanups: dict[object, Callable[[], None]] = {}

    # -- sending -------------------------------------------------------------------------

    def _put(self, frame: dict[str, Any]) -> bool:
        return self._put_text(_encode(frame))

    def _put_text(self, text: str) -> bool:
        if self._outbox.put(text):
            return True
        if self._outbox.closing is None:
            log.warning("webitel socket %s: client too slow, dropping it", self.sock_id)
            self._drop()
        return False

    def _drop(self) -> None:
        """Let a client that fell behind go: its frames are dropped and the writer, which
        may be stuck in a send the client does not read, is cancelled; `run` then ends
        and the connection with it. Nothing waits for the client."""
        self._outbox.close(1011, "too slow", flush=False)
        if self._writer_task is not None:
            self._writer_task.cancel()

    async def _writer(self) -> None:
        while (text := await self._outbox.get()) is not None:
            await self.websocket.send_text(text)
        assert self._outbox.closing is not None
        code, reason = self._outbox.closing
        await self.websocket.close(code=code, reason=reason)

    def _on_revoked(self, event: TokensRevoked) -> None:
        """The token this socket authenticated with was revoked: the session is over."""
        if self.principal is not None and self.principal.token_id in event.token_ids:
            self._put(
                {
                    "event": "error",
                    "data": {
                        "sock_id": self.sock_id,
                        "error": _error("the session was revoked", "app.session.revoked", 401),
                    },
                    "seq": 0,
                }
            )
            self._outbox.close(4001, "session revoked")

    def _on_user_event(self, numbered: UserEvent) -> bool:
        text = _LAST_FRAME.text(numbered, self.runtime.node_id)
        if text is None:
            return True
        if self._held is not None:
            self._held.append(text)
            return True
        return self._put_text(text)

    # -- the connection ------------------------------------------------------------------

    async def run(self) -> None:
        await self.websocket.accept()
        writer = self._writer_task = asyncio.create_task(self._writer())
        reader = asyncio.create_task(self._read())
        try:
            # The reader ends when the client goes; the writer when the socket is closed
            # from here (revoked, dropped, or a failed send).
            await asyncio.wait((reader, writer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if self.principal is not None:
                self.runtime.hub.unsubscribe(self.principal.user_id, self._on_user_event)
                self._unsubscribe_revoked()
            for cleanup in self.cleanups.values():
                cleanup()
            for task in (reader, writer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _read(self) -> None:
        with contextlib.suppress(TimeoutError, WebSocketDisconnect):
            await asyncio.wait_for(self._authenticate_first(), AUTH_TIMEOUT)
            while self._outbox.closing is None:
                await self._handle(await self.websocket.receive_text())

    async def _authenticate_first(self) -> None:
        while self.principal is None:
            await self._handle(await self.websocket.receive_text())

    async def _handle(self, text: str) -> None:
        if text.strip("\x00") == "":
            return  # keep-alive
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            log.info("webitel socket %s: a frame that is not JSON", self.sock_id)
            return
        if not isinstance(message, dict):
            return
        seq = message.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq <= 0:
            return
        action = message.get("action")
        data = message.get("data")
        if data is None:
            data = {}
        if not isinstance(action, str) or not isinstance(data, dict):
            self._fail(seq, _error("bad request", "api.web_socket_router.bad_request.app_error"))
            return
        if self.principal is None and action != "authentication_challenge":
            self._fail(
                seq, _error("authenticate first", "api.web_socket_router.not_authenticated", 401)
            )
            return
        handler = ACTIONS.get(action)
        if handler is None:
            self._fail(
                seq,
                _error(f"unknown action {action}", "api.web_socket_router.bad_action.app_error"),
            )
            return
        self._held = []
        try:
            reply = await handler(self, data)
        except AppError as error:
            self._fail(seq, error.as_dict())
        except Exception:
            log.exception("webitel socket %s: %s failed", self.sock_id, action)
            self._fail(seq, _error("internal error", "app.internal.error", 500))
        else:
            frame: dict[str, Any] = {"status": "OK", "seq_reply": seq}
            if reply is not None:
                frame["data"] = reply
            self._put(frame)
        finally:
            held, self._held = self._held, None
            for text in held or ():
                self._put_text(text)

    def _fail(self, seq: int, error: dict[str, Any]) -> None:
        self._put({"status": "FAIL", "seq_reply": seq, "error": error})

    # -- actions -------------------------------------------------------------------------

    async def authentication_challenge(self, data: dict[str, Any]) -> dict[str, Any] | None:
        if self.principal is not None:
            raise InvalidInput("already authenticated", id="api.web_socket_router.auth.app_error")
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise InvalidInput("a token is required", id="api.web_socket_router.auth.app_error")
        client = self.websocket.client
        principal = await self.runtime.auth.authenticate(
            token, client.host if client else "unknown"
        )
        if not principal.licensed and not principal.is_root:
            raise LicenseRequired("the user has no valid product license")
        self.principal = principal
        self._put({"event": "hello", "data": self._hello(principal), "seq": 0})
        self.runtime.hub.subscribe(principal.user_id, self._on_user_event)
        self._unsubscribe_revoked = self.runtime.bus.subscribe(TokensRevoked, self._on_revoked)
        return None

    def _hello(self, principal: Principal) -> dict[str, Any]:
        now = int(time.time() * 1000)
        return {
            "server_node_id": self.runtime.node_id,
            "server_build_commit": "",
            "server_version": __version__,
            "server_time": now,
            "sock_id": self.sock_id,
            "session": {
                "id": principal.token_id,
                "name": principal.name,
                "domain_id": principal.domain_id,
                "domain_name": principal.domain_name,
                "expire": principal.expires_at or now + 365 * 24 * 3600 * 1000,
                "user_id": principal.user_id,
                "role_ids": list(principal.role_ids),
                "token": principal.token,
                "scopes": [],
            },
            "use_cc": True,
            "use_chat": False,
            "ping_interval": PING_INTERVAL_MS,
        }

    async def ping(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"pong": 1}

    async def subscribe_call(self, data: dict[str, Any]) -> dict[str, Any]:
        """The user's live calls, and (Callboard's addition, ignored by the webitel-sdk)
        `last_seq`: the event the snapshot reflects, from which `events_since` resumes."""
        assert self.principal is not None
        user_id = self.principal.user_id
        live = self.runtime.live.of_user(user_id)
        return {
            "items": [call_item(leg, self.runtime.node_id) for leg in live],
            "last_seq": self.runtime.hub.last_seq(user_id),
        }

    async def events_since(self, data: dict[str, Any]) -> dict[str, Any]:
        """Callboard's addition: the events after `seq`, to resume after a reconnect."""
        assert self.principal is not None
        seq = data.get("seq", 0)
        if not isinstance(seq, int) or seq < 0:
            raise InvalidInput("seq is a number from 0")
        missed = self.runtime.hub.since(self.principal.user_id, seq)
        if missed is None:
            raise InvalidInput("those events are no longer kept", id="app.events.gone")
        items = []
        for numbered in missed:
            frame = event_frame(numbered, self.runtime.node_id)
            if frame is not None:
                items.append(frame)
        return {"items": items, "last_seq": self.runtime.hub.last_seq(self.principal.user_id)}

    async def user_default_device(self, data: dict[str, Any]) -> dict[str, Any]:
        """The web phone's SIP settings (reference §9.1): a digest HA1, never a password.

        A socket whose token expires (a login session, a widget's token) gets ephemeral
        credentials (`callboard.directory.ephemeral`): a username of its device that
        expires with the token (12 h at most), and that username's HA1; `expires_at`
        (ms) and `expires_in` (s, immune to the browser's clock) say when, and the SDK
        asks again before then. The device's own HA1 never reaches that browser.

        A token that never expires (an integration token) gets the device's own account
        and HA1, as the Webitel engine answers: ephemeral credentials would have to
        expire anyway, and the published webitel-sdk, which such tokens serve (phones
        that run for days), never asks for new ones; its phone would fall silent.
        """
        principal = self.principal
        assert principal is not None
        device = await self.runtime.directory.web_device(principal.user_id)
        if device is None or device.user_id is None:
            raise InvalidInput("the user has no device", id="app.device.not_found")
        if self.runtime.web_phone_url is None:
            raise InvalidInput("no SIP WebSocket listener", id="app.device.no_server")
        extension = device.extension or device.account
        answer: dict[str, Any] = {
            "server": self.runtime.web_phone_url,
            "extension": extension,
            "realm": device.domain,
            "uri": f"sip:{extension}@{device.domain}",
            "authorization_user": device.account,
            "display_name": device.user_name,
            "ha1": device.ha1_md5,
        }
        if principal.expires_at is None:
            return answer
        now = time.time()
        if principal.expires_at <= now * 1000:
            raise Unauthenticated(
                "the token has expired: no SIP credentials for it", id="app.session.expired"
            )
        issued = self.runtime.directory.web_phone_credentials(device, principal.expires_at)
        answer["authorization_user"] = issued.username
        answer["ha1"] = issued.ha1_md5
        answer["expires_at"] = issued.expires_at * 1000
        answer["expires_in"] = max(0, int(issued.expires_at - now))
        return answer

    async def accepted(self, data: dict[str, Any]) -> None:
        return None

    # -- call control --------------------------------------------------------------------

    def _control(self, data: dict[str, Any]) -> tuple[CallControl, str, Controller]:
        principal = self.principal
        assert principal is not None
        control = self.runtime.calls
        if control is None:
            raise InvalidInput("calls are not served here", id="app.call.unavailable")
        leg_id = data.get("id")
        if not isinstance(leg_id, str) or not leg_id:
            raise InvalidInput("id is the call id (a string)", id="app.call.bad_id")
        who = Controller(
            principal.user_id, principal.domain_id, principal.can(Permission.CALLS_CONTROL)
        )
        return control, leg_id, who

    async def call_hangup(self, data: dict[str, Any]) -> None:
        control, leg_id, who = self._control(data)
        cause = data.get("cause")
        control.hangup(leg_id, who, cause if isinstance(cause, str) else None)

    async def call_hold(self, data: dict[str, Any]) -> None:
        control, leg_id, who = self._control(data)
        control.hold(leg_id, who, hold=True)

    async def call_unhold(self, data: dict[str, Any]) -> None:
        control, leg_id, who = self._control(data)
        control.hold(leg_id, who, hold=False)

    async def call_dtmf(self, data: dict[str, Any]) -> None:
        control, leg_id, who = self._control(data)
        digits = data.get("dtmf")
        if not isinstance(digits, str):
            raise InvalidInput("dtmf is a string of digits")
        control.dtmf(leg_id, who, digits[:1])

    async def call_blind_transfer(self, data: dict[str, Any]) -> None:
        control, leg_id, who = self._control(data)
        destination = data.get("destination")
        if not isinstance(destination, str):
            raise InvalidInput("destination is a number")
        control.blind_transfer(leg_id, who, destination)

    async def call_mute(self, data: dict[str, Any]) -> None:
        """Muting is the phone's own business (its microphone); the call is checked."""
        control, leg_id, who = self._control(data)
        control.check(leg_id, who)

    async def call_invite(self, data: dict[str, Any]) -> dict[str, Any]:
        """Click-to-call: the user's own phones ring first, then `destination`
        (`{destination, params?}`, see `callboard.compat.webitel.invite`) → `{id}`."""
        principal = self.principal
        assert principal is not None
        control = self.runtime.calls
        if control is None:
            raise InvalidInput("calls are not served here", id="app.call.unavailable")
        who = Controller(
            principal.user_id, principal.domain_id, principal.can(Permission.CALLS_CONTROL)
        )
        destination = invite.destination_of(data.get("destination"))
        params = invite.invite_params(data.get("params"))
        return {"id": await invite.start(control, who, destination, params)}


ACTIONS: dict[str, Handler] = {
    "authentication_challenge": WebitelSession.authentication_challenge,
    "ping": WebitelSession.ping,
    "subscribe_call": WebitelSession.subscribe_call,
    "events_since": WebitelSession.events_since,
    "user_default_device": WebitelSession.user_default_device,
    "un_subscribe_call": WebitelSession.accepted,
    "call_hangup": WebitelSession.call_hangup,
    "call_hold": WebitelSession.call_hold,
    "call_unhold": WebitelSession.call_unhold,
    "call_dtmf": WebitelSession.call_dtmf,
    "call_blind_transfer": WebitelSession.call_blind_transfer,
    "call_blind_transfer_ext": WebitelSession.call_blind_transfer,
    "call_mute": WebitelSession.call_mute,
    "call_invite": WebitelSession.call_invite,
    "subscribe_users_status": WebitelSession.accepted,
    "un_subscribe_users_status": WebitelSession.accepted,
    "cc_agent_session": cc.cc_agent_session,
    "cc_agent_tasks": cc.cc_agent_tasks,
    "cc_agent_online": cc.cc_agent_online,
    "cc_agent_pause": cc.cc_agent_pause,
    "cc_agent_offline": cc.cc_agent_offline,
    "cc_agent_waiting": cc.cc_agent_waiting,
    "cc_agent_subscribe_status": cc.cc_agent_subscribe_status,
    "subscribe_user_calls": watch.subscribe_user_calls,
    "un_subscribe_user_calls": watch.un_subscribe_user_calls,
}


async def websocket_endpoint(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    await WebitelSession(websocket, runtime).run()
