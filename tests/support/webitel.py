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
import atexit
import collections
import contextlib
import functools
import itertools
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

HARNESS_DIR = Path(__file__).resolve().parent / "webitel"
SCRIPT = HARNESS_DIR / "client.mjs"
WEBRTC_STUB = HARNESS_DIR.parent / "jssip" / "phone.cjs"
SDK_VERSION = "26.4.29"
AXIOS_VERSION = "1.21.1"

Event = dict[str, Any]


class WebitelUnavailable(RuntimeError):
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


def node_binary() -> str:
    path = shutil.which("node")
    if path is None:
        raise WebitelUnavailable(
            "`node` was not found on PATH. The webitel-sdk tests run the SDK in Node 20 or "
            "newer; install Node, then `bash scripts/install-test-deps.sh`."
        )
    return path


def _installed_version(package: str) -> str | None:
    manifest = HARNESS_DIR / "node_modules" / package / "package.json"
    if not manifest.is_file():
        return None
    version = json.loads(manifest.read_text()).get("version")
    return str(version) if version is not None else None


def check_installed() -> None:
    """Raise WebitelUnavailable unless node, the pinned webitel-sdk and axios, and the
    WebRTC stub (tests/support/jssip/phone.cjs) are there."""
    node_binary()
    if _node_major() < 20:
        raise WebitelUnavailable("the webitel-sdk tests need Node.js 20 or newer")
    for package, pinned in (("webitel-sdk", SDK_VERSION), ("axios", AXIOS_VERSION)):
        version = _installed_version(package)
        if version != pinned:
            found = "missing" if version is None else f"{version} is installed"
            raise WebitelUnavailable(
                f"{package} {pinned} is pinned, {found} in {HARNESS_DIR / 'node_modules'}: "
                "run `bash scripts/install-test-deps.sh` (it runs `npm ci --prefix "
                "tests/support/webitel`)."
            )
    if not WEBRTC_STUB.is_file():
        raise WebitelUnavailable(f"{WEBRTC_STUB} (the WebRTC stub of the web phone) is missing")


@functools.cache
def _node_major() -> int:
    out = subprocess.run(
        [node_binary(), "--version"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    return int(out.strip().lstrip("v").split(".")[0])


_live: dict[int, asyncio.subprocess.Process] = {}


@atexit.register
def _kill_leftovers() -> None:
    for pid, process in list(_live.items()):
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


class WebitelClient:
    """One webitel-sdk `Client` in its own Node process. See the module documentation."""

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
        self.name = name
        self.insecure_tls = insecure_tls
        self.debug = debug
        self.timeout = timeout
        self.events: list[Event] = []
        self.versions: Event = {}
        self._taken: set[int] = set()
        self._changed = asyncio.Event()
        self._replies: dict[int, asyncio.Future[Event]] = {}
        self._ids = itertools.count(1)
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=300)
        self._noise: list[str] = []

    # -- life cycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.kill()
        if exc_type is None:
            self.assert_no_errors()

    async def start(self) -> None:
        check_installed()
        env = dict(os.environ)
        env.pop("NODE_TLS_REJECT_UNAUTHORIZED", None)
        if self.debug:
            env["DEBUG_COLORS"] = "0"
        if self.insecure_tls:
            env["NODE_TLS_REJECT_UNAUTHORIZED"] = "0"
        args = [node_binary()]
        if _node_major() < 22:
            args.append("--experimental-websocket")
        args += ["--no-warnings", str(SCRIPT)]
        process = await asyncio.create_subprocess_exec(
            *args,
            cwd=HARNESS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
            limit=4 * 1024 * 1024,
        )
        self._process = process
        _live[process.pid] = process
        self._reader = asyncio.create_task(self._read_stdout())
        self._stderr_task = asyncio.create_task(self._read_stderr())
        self.versions = await self.expect("ready")
        if self.versions.get("sdk") != SDK_VERSION:
            raise self._failure(f"webitel-sdk {self.versions.get('sdk')} loaded, not {SDK_VERSION}")

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def kill(self) -> None:
        """SIGKILL the Node process (its sockets drop like a closed browser tab's)."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        _live.pop(process.pid, None)
        for task in (self._reader, self._stderr_task):
            if task is not None:
                await task
        if process.stdin is not None:
            process.stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await process.stdin.wait_closed()

    # -- reading ---------------------------------------------------------------------------

    async def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stream = self._process.stdout
        while line := await stream.readline():
            text = line.decode(errors="replace").strip()
            if not text:
                continue
            try:
                event = json.loads(text)
            except json.JSONDecodeError:
                self._noise.append(text)
                continue
            if not isinstance(event, dict):
                self._noise.append(text)
                continue
            if event.get("event") == "reply":
                future = self._replies.pop(event.get("id") or 0, None)
                if future is not None and not future.done():
                    future.set_result(event)
                continue
            self.events.append(event)
            self._changed.set()
        for future in self._replies.values():
            if not future.done():
                future.set_exception(self._failure("the Node process exited"))
        self._replies.clear()
        self._changed.set()

    async def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        stream = self._process.stderr
        while line := await stream.readline():
            self._stderr.append(line.decode(errors="replace").rstrip())

    def _failure(self, what: str) -> WebitelFailed:
        return WebitelFailed(self._report(what))

    def _report(self, what: str) -> str:
        returncode = self._process.returncode if self._process is not None else None
        events = "\n".join(
            f"  {'*' if i in self._taken else ' '} {json.dumps(e)[:700]}"
            for i, e in enumerate(self.events)
        )
        parts = [
            f"webitel-sdk client {self.name}: {what}",
            f"process: {'running' if returncode is None else f'exited with {returncode}'}",
            f"events (* = already expected):\n{events or '  (none)'}",
        ]
        if self._noise:
            parts.append("other stdout:\n" + "\n".join(self._noise[-20:]))
        if self._stderr:
            tail = list(self._stderr)[-120:]
            parts.append("stderr (the SDK's and JsSIP's log, tail):\n" + "\n".join(tail))
        return "\n".join(parts)

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

    def find(self, name: str, **fields: Any) -> list[Event]:
        """Every event so far with this name and these field values."""
        return [e for e in self.events if e.get("event") == name and _matches(e, fields)]

    def calls(self, call_id: str | None = None) -> list[Event]:
        """The `call` events so far (of one call, if given), in order."""
        return [e for e in self.find("call") if call_id in (None, e.get("id"))]

    def actions(self, call_id: str) -> list[str]:
        """The actions the subscribeCall handler got for one call, in order."""
        return [str(e["action"]) for e in self.calls(call_id)]

    async def expect(self, name: str, *, within: float | None = None, **fields: Any) -> Event:
        """The first event `name` with these field values not returned before; waits for
        it up to `within` seconds. Raises WebitelFailed on timeout, if Node exits, or as
        soon as the SDK threw where nobody caught it (unless `name` is "error")."""
        limit = self.timeout if within is None else within
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            for index, event in enumerate(self.events):
                if index in self._taken or event.get("event") != name:
                    continue
                if _matches(event, fields):
                    self._taken.add(index)
                    return event
            if name != "error":
                self.assert_no_errors()
            if not self.running and (self._reader is None or self._reader.done()):
                raise self._failure(f"exited while waiting for {name} {fields or ''}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._failure(f"no {name} {fields or ''} within {limit:g} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

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
        process = self._process
        if process is None or process.stdin is None or process.returncode is not None:
            raise self._failure(f"cannot send {cmd}: the process is not running")
        request_id = next(self._ids)
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        line = json.dumps({"id": request_id, "cmd": cmd, **args}) + "\n"
        process.stdin.write(line.encode())
        await process.stdin.drain()
        limit = self.timeout if within is None else within
        try:
            reply = await asyncio.wait_for(future, limit)
        except TimeoutError:
            self._replies.pop(request_id, None)
            raise self._failure(
                f"no reply to {cmd} within {limit:g} s (the SDK waits for ever for a "
                "server reply: was the request answered?)"
            ) from None
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


def _matches(event: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    return all(event.get(key) == value for key, value in fields.items())
