"""The published `webitel-sdk` JavaScript client as a real peer in tests.

`WebitelClient` runs ONE unmodified `Client` of `webitel-sdk@26.4.29` (the npm package,
pinned in tests/support/webitel/package-lock.json) in Node, in its own process
(tests/support/webitel/client.mjs), and drives it over JSON lines on stdin/stdout:
commands go in, replies and the SDK's events come out.

    async with WebitelClient("bob") as sdk:
        reply = await sdk.connect(endpoint=f"{node.url}/ws", token=token)
        assert reply["session"]["user_id"] == 42
        await sdk.subscribe_call()
        ringing = await sdk.expect("call", action="ringing")
        await sdk.expect("call", action="destroy", id=ringing["id"])

Events (see client.mjs for every field): `call` (one per `(action, call)` the
`subscribeCall` handler got, with the call as it was then), `phone_registered`,
`phone_connected`, `connected`, `disconnected`, `client_error` (the Client's `error`
event), `sip_session` / `sip_state` / `sip_info` (the SDK's JsSIP sessions),
`socket_error` / `socket_close` (every WebSocket the SDK and its JsSIP open), and
`error`: an unhandled rejection or uncaught exception in the SDK (such as its
`Unhandled event X` when a call event has a name it does not handle).

An `error` event fails the test: every `expect()` raises `WebitelFailed` as soon as one
arrived (unless it is itself waiting for "error"), and leaving the `async with` block
raises if one arrived that no `expect("error")` took. A timeout, a failed command or the
Node process dying raise `WebitelFailed` too, with every event and the tail of stderr
(the SDK's own debug log of every frame it received, and JsSIP's).

With `register_web_device=True` the SDK starts its JsSIP web phone; its media is a stub
(Node has no WebRTC; see client.mjs): these tests check signalling, Chromium checks media.

Node 20+ and the npm modules must be installed (`bash scripts/install-test-deps.sh`):
when they are missing, `WebitelUnavailable` says so. These tests fail, they never skip.
The Node process is killed when the `async with` block ends (and at interpreter exit as
a last resort).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.nodeproc import (
    Event,
    NodeProcess,
    NodeUnavailable,
    installed_version,
    node_binary,
    node_major,
)

HARNESS_DIR = Path(__file__).resolve().parent / "webitel"
SCRIPT = HARNESS_DIR / "client.mjs"
WEBRTC_STUB = HARNESS_DIR.parent / "webrtc-stub.cjs"
SDK_VERSION = "26.4.29"
AXIOS_VERSION = "1.21.1"


class WebitelUnavailable(NodeUnavailable):
    """Node, or the harness's npm modules, are missing. Install them; never skip."""


class WebitelFailed(AssertionError):
    """The SDK did not do what the test expected; the message holds what it saw."""


class WebitelRejected(WebitelFailed):
    """A command's promise rejected. `error` is what the SDK rejected with:
    {class, name, message, id, raw} (class None: a plain value, then in `raw`);
    `stage` is "connect" or "auth" for `connect()`."""

    def __init__(self, message: str, error: Mapping[str, Any], stage: str | None) -> None:
        super().__init__(message)
        self.error: dict[str, Any] = dict(error)
        self.stage = stage


def check_installed() -> None:
    """Raise WebitelUnavailable unless node, the pinned webitel-sdk and axios, and the
    WebRTC stub (tests/support/webrtc-stub.cjs) are there."""
    node_binary(WebitelUnavailable)
    if node_major() < 20:
        raise WebitelUnavailable("the webitel-sdk tests need Node.js 20 or newer")
    for package, pinned in (("webitel-sdk", SDK_VERSION), ("axios", AXIOS_VERSION)):
        version = installed_version(HARNESS_DIR, package)
        if version != pinned:
            found = "missing" if version is None else f"{version} is installed"
            raise WebitelUnavailable(
                f"{package} {pinned} is pinned, {found} in {HARNESS_DIR / 'node_modules'}: "
                "run `bash scripts/install-test-deps.sh` (it runs `npm ci --prefix "
                "tests/support/webitel`)."
            )
    if not WEBRTC_STUB.is_file():
        raise WebitelUnavailable(f"{WEBRTC_STUB} (the WebRTC stub of the web phone) is missing")


class WebitelClient(NodeProcess):
    """One webitel-sdk `Client` in its own Node process. See the module documentation."""

    script = SCRIPT
    label = "webitel-sdk client"
    failure_class = WebitelFailed
    stderr_title = "stderr (the SDK's and JsSIP's log, tail)"
    stderr_kept = 300
    stderr_shown = 120
    event_width = 700
    no_reply_hint = " (the SDK waits for ever for a server reply: was the request answered?)"

    def __init__(
        self,
        name: str = "sdk",
        *,
        insecure_tls: bool = False,
        debug: bool = True,
        timeout: float = 10.0,
    ) -> None:
        """
        Args:
            name: for messages.
            insecure_tls: accept the node's self-signed certificate (the web phone's wss://
                SIP WebSocket): NODE_TLS_REJECT_UNAUTHORIZED=0 in this Node process only.
            debug: the SDK's debug log (every frame received) and JsSIP's to stderr.
            timeout: default seconds `expect()` and commands wait.
        """
        super().__init__(name, insecure_tls=insecure_tls, debug=debug, timeout=timeout)
        self.versions: Event = {}

    def check_installed(self) -> None:
        check_installed()

    def check_ready(self, ready: Event) -> None:
        self.versions = ready
        if ready.get("sdk") != SDK_VERSION:
            raise self._failure(f"webitel-sdk {ready.get('sdk')} loaded, not {SDK_VERSION}")

    def check_events(self, name: str) -> None:
        """While waiting for anything but "error", an uncaught SDK error fails at once."""
        if name != "error":
            self.assert_no_errors()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.kill()
        if exc_type is None:
            self.assert_no_errors()

    # -- events ----------------------------------------------------------------------------

    @property
    def errors(self) -> list[Event]:
        """Every unhandled rejection / uncaught exception the SDK produced so far."""
        return [e for e in self.events if e.get("event") == "error"]

    def _untaken_errors(self) -> list[Event]:
        return [
            e
            for i, e in enumerate(self.events)
            if e.get("event") == "error" and i not in self._taken
        ]

    def assert_no_errors(self) -> None:
        """Raise WebitelFailed if the SDK threw where nobody caught it."""
        untaken = self._untaken_errors()
        if untaken:
            raise self._failure(
                "the SDK threw where nobody caught it (unhandled rejection / uncaught "
                "exception):\n" + "\n".join(_error_text(e) for e in untaken)
            )

    def calls(self, call_id: str | None = None) -> list[Event]:
        """The `call` events so far (of one call, if given), in order."""
        return [e for e in self.find("call") if call_id in (None, e.get("id"))]

    def actions(self, call_id: str) -> list[str]:
        """The actions the subscribeCall handler got for one call, in order."""
        return [str(e["action"]) for e in self.calls(call_id)]

    async def expect_call(
        self, action: str, call_id: str | None = None, *, within: float | None = None
    ) -> Event:
        """`expect("call", action=action[, id=call_id])`."""
        fields: dict[str, Any] = {"action": action}
        if call_id is not None:
            fields["id"] = call_id
        return await self.expect("call", within=within, **fields)

    # -- commands --------------------------------------------------------------------------

    async def command(self, cmd: str, *, within: float | None = None, **args: Any) -> Event:
        """Send one command and return its reply's fields. A rejected promise raises
        WebitelRejected (with what the SDK rejected with), anything else WebitelFailed."""
        reply = await self.request(cmd, within=within, **args)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            stage = reply.get("stage")
            raise WebitelRejected(
                self._report(f"{cmd}{f' ({stage})' if stage else ''} rejected: {error}"),
                error,
                stage if isinstance(stage, str) else None,
            )
        return {k: v for k, v in reply.items() if k not in ("event", "id", "ok")}

    async def connect(
        self,
        endpoint: str,
        token: str,
        *,
        register_web_device: bool = False,
        application_name: str | None = None,
    ) -> Event:
        """`new Client({endpoint, token, registerWebDevice})`, `connect()`, `auth()`.
        Returns {auth, session, instanceId, serverVersion, canUseCC, canUseChat}."""
        args: dict[str, Any] = {
            "endpoint": endpoint,
            "token": token,
            "registerWebDevice": register_web_device,
            "debug": self.debug,
        }
        if application_name is not None:
            args["applicationName"] = application_name
        return await self.command("connect", **args)

    async def session_info(self) -> Event:
        """`client.sessionInfo()`: the `session` of the server's hello."""
        session: Event = (await self.command("sessionInfo"))["session"]
        return session

    async def subscribe_call(self, data: Mapping[str, Any] | None = None) -> Event:
        """`client.subscribeCall(handler)`; returns {items (the server's reply), calls
        (the calls the SDK rebuilt from them)}. The handler's calls become `call` events."""
        args: dict[str, Any] = {} if data is None else {"data": dict(data)}
        return await self.command("subscribeCall", **args)

    async def all_calls(self) -> list[Event]:
        """`client.allCall()`, each call described as in a `call` event (no action)."""
        calls: list[Event] = (await self.command("calls"))["calls"]
        return calls

    async def call_state(self, call_id: str) -> Event | None:
        """The SDK's call `call_id` now (from `client.allCall()`), or None."""
        for call in await self.all_calls():
            if call.get("id") == call_id:
                return call
        return None

    async def wait_linked(self, call_id: str, *, within: float | None = None) -> Event:
        """Wait until the SDK linked call `call_id` to a SIP session of its web phone
        (`call.sip` set); returns the call."""
        limit = self.timeout if within is None else within
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            call = await self.call_state(call_id)
            if call is not None and call.get("sip"):
                return call
            self.assert_no_errors()
            if loop.time() >= deadline:
                raise self._failure(f"call {call_id} not linked to a SIP session: {call}")
            await asyncio.sleep(0.05)

    async def agent_session(self) -> Event:
        """`client.agentSession()`; returns the agent as {agentId, status, ...}."""
        agent: Event = (await self.command("agentSession"))["agent"]
        return agent

    async def agent(self) -> Event | None:
        """`client.agent` as it is now ({agentId, status, ...}), or None before
        agentSession()."""
        agent: Event | None = (await self.command("agent"))["agent"]
        return agent

    async def subscribe_agents_status(self, data: Mapping[str, Any] | None = None) -> Event:
        """`client.subscribeAgentsStatus(handler, data)`; each call of the handler becomes
        an `agent_status` event {status (the event), agent (the SDK's agent after it)}."""
        args: dict[str, Any] = {} if data is None else {"data": dict(data)}
        return await self.command("subscribeAgentsStatus", **args)

    async def agent_online(
        self, channels: list[str] | None = None, on_demand: bool | None = None
    ) -> Event:
        """`agent.online(channels, onDemand)`; returns {result, agent}."""
        args: dict[str, Any] = {}
        if channels is not None:
            args["channels"] = channels
        if on_demand is not None:
            args["onDemand"] = on_demand
        return await self.command("agent.online", **args)

    async def agent_pause(self, payload: str | None = None) -> Event:
        """`agent.pause(payload)`: it resolves with the server's error instead of
        rejecting; returns {result, agent}."""
        args: dict[str, Any] = {} if payload is None else {"payload": payload}
        return await self.command("agent.pause", **args)

    async def agent_offline(self) -> Event:
        return await self.command("agent.offline")

    async def agent_waiting(self, channel: str) -> Event:
        return await self.command("agent.waiting", channel=channel)

    async def answer(self, call_id: str, request: Mapping[str, Any] | None = None) -> Event:
        """`call.answer(request)`: the SDK answers through its web phone (JsSIP 200 OK).
        Returns {sip: linked?, outcome}: outcome is "pending" when JsSIP was asked to
        answer (the SDK's promise never settles then), False when it had no SIP session."""
        return await self.command("call.answer", call=call_id, request=dict(request or {}))

    async def hangup(self, call_id: str, cause: str | None = None) -> Event:
        args: dict[str, Any] = {"call": call_id}
        if cause is not None:
            args["cause"] = cause
        return await self.command("call.hangup", **args)

    async def hold(self, call_id: str) -> Event:
        return await self.command("call.hold", call=call_id)

    async def unhold(self, call_id: str) -> Event:
        return await self.command("call.unHold", call=call_id)

    async def send_dtmf(self, call_id: str, dtmf: str) -> Event:
        return await self.command("call.sendDTMF", call=call_id, dtmf=dtmf)

    async def blind_transfer(
        self, call_id: str, destination: str, variables: Mapping[str, str] | None = None
    ) -> Event:
        args: dict[str, Any] = {"call": call_id, "destination": destination}
        if variables is not None:
            args["variables"] = dict(variables)
        return await self.command("call.blindTransfer", **args)

    async def invite(self, destination: str, params: Mapping[str, Any] | None = None) -> Event:
        """`client.invite({destination, params})` (the `call_invite` request)."""
        args: dict[str, Any] = {"destination": destination}
        if params is not None:
            args["params"] = dict(params)
        return await self.command("invite", **args)

    async def call(self, destination: str, params: Mapping[str, Any] | None = None) -> None:
        """`client.call({destination, params})`: with a web phone, its JsSIP sends the
        INVITE (the SDK reports failures as a `client_error` event, it does not reject)."""
        args: dict[str, Any] = {"destination": destination}
        if params is not None:
            args["params"] = dict(params)
        await self.command("call", **args)

    async def disconnect(self) -> None:
        """`client.disconnect()`: closes the API WebSocket with 1000 (the SDK's web phone,
        if any, stays registered: use `destroy()` for both)."""
        await self.command("disconnect")

    async def destroy(self) -> None:
        """`client.destroy()`: disconnects and stops the web phone."""
        await self.command("destroy")


def _error_text(event: Mapping[str, Any]) -> str:
    error = event.get("error") or {}
    text = error.get("stack") or error.get("message") or json.dumps(error.get("raw"))
    return f"  {event.get('kind')}: {text}"
