"""JsSIP, the web phone's SIP stack, as a real peer in tests.

`JsSipPhone` runs one JsSIP 3.13.8 user agent in Node (tests/support/jssip/phone.cjs)
and drives it over JSON lines on stdin/stdout: commands go in, replies and JsSIP's
events come out. The signalling is the real library over a real WebSocket (subprotocol
`sip`); the media is a stub (Node has no WebRTC): a fake RTCPeerConnection writes and
reads WebRTC-looking SDP and sends no packet. Real media is for the Chromium tests.

    async with JsSipPhone("alice") as alice:
        await alice.register(uri="sip:1001@callboard.lo", ws_url="ws://127.0.0.1:5066",
                             authorization_user="1001", ha1=ha1(...), realm="callboard.lo")
        await alice.expect("registered")
        session = await alice.call("sip:1002@callboard.lo")
        await alice.expect("confirmed", session=session)

Every event the phone emitted is kept in `events`, in order. `expect()` returns the
first event of a name (and matching fields) that no earlier `expect()` returned, waiting
for it if needed; a timeout, or the Node process dying, raises `JsSipFailed` with every
event and the tail of stderr (JsSIP's debug log, `DEBUG=JsSIP:*`). The process is killed
when the `async with` block ends, and at interpreter exit as a last resort.

Node and the npm modules must be installed (`bash scripts/install-test-deps.sh`): when
they are missing, `JsSipUnavailable` says so. These tests fail, they never skip.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import functools
import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

HARNESS_DIR = Path(__file__).resolve().parent / "jssip"
SCRIPT = HARNESS_DIR / "phone.cjs"
JSSIP_VERSION = "3.13.8"

Event = dict[str, Any]


class JsSipUnavailable(RuntimeError):
    """Node, or the harness's npm modules, are missing. Install them; never skip."""


class JsSipFailed(AssertionError):
    """The phone did not do what the test expected; the message holds what it saw."""


def ha1(account: str, realm: str, password: str) -> str:
    """MD5(account:realm:password), what the Webitel engine hands its web phone (the SDK
    passes `ha1` and `realm` to JsSIP, never the password)."""
    return hashlib.md5(f"{account}:{realm}:{password}".encode()).hexdigest()  # noqa: S324


def node_binary() -> str:
    path = shutil.which("node")
    if path is None:
        raise JsSipUnavailable(
            "`node` was not found on PATH. The JsSIP tests run JsSIP in Node 20 or newer; "
            "install Node, then `bash scripts/install-test-deps.sh`."
        )
    return path


def check_installed() -> None:
    """Raise JsSipUnavailable unless node and jssip (the pinned version) are installed."""
    node_binary()
    package = HARNESS_DIR / "node_modules" / "jssip" / "package.json"
    if not package.is_file():
        raise JsSipUnavailable(
            f"{package.parent} is missing: run `bash scripts/install-test-deps.sh` "
            "(it runs `npm ci --prefix tests/support/jssip`)."
        )
    version = json.loads(package.read_text()).get("version")
    if version != JSSIP_VERSION:
        raise JsSipUnavailable(
            f"jssip {version} is installed, the harness pins {JSSIP_VERSION}: run "
            "`bash scripts/install-test-deps.sh`."
        )


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


class JsSipPhone:
    """One JsSIP UA in its own Node process. See the module documentation."""

    def __init__(
        self,
        name: str = "jssip",
        *,
        insecure_tls: bool = False,
        debug: bool = True,
        timeout: float = 10.0,
    ) -> None:
        """
        Args:
            name: for messages.
            insecure_tls: accept the node's self-signed certificate (WSS): sets
                NODE_TLS_REJECT_UNAUTHORIZED=0 in this Node process's environment only.
            debug: JsSIP's debug log (every SIP message) to stderr, kept for reports.
            timeout: default seconds `expect()` and commands wait.
        """
        self.name = name
        self.insecure_tls = insecure_tls
        self.debug = debug
        self.timeout = timeout
        self.events: list[Event] = []
        self._taken: set[int] = set()
        self._changed = asyncio.Event()
        self._replies: dict[int, asyncio.Future[Event]] = {}
        self._ids = itertools.count(1)
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=400)
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

    async def start(self) -> None:
        check_installed()
        env = dict(os.environ)
        if self.debug:
            env["DEBUG"] = "JsSIP:*"
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
        ready = await self.expect("ready")
        if ready.get("jssip") != JSSIP_VERSION:
            raise JsSipFailed(
                f"{self.name}: JsSIP {ready.get('jssip')} loaded, not {JSSIP_VERSION}"
            )

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def kill(self) -> None:
        """SIGKILL the Node process (its WebSocket drops like a closed browser tab's)."""
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

    async def stop(self) -> None:
        """Stop the UA cleanly (JsSIP un-registers and closes its WebSocket), then end."""
        await self.command("stop")
        assert self._process is not None
        try:
            await asyncio.wait_for(self._process.wait(), self.timeout)
        finally:
            await self.kill()

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
        # The process is gone: wake everyone up so they can see it.
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

    def _failure(self, what: str) -> JsSipFailed:
        returncode = self._process.returncode if self._process is not None else None
        events = "\n".join(
            f"  {'*' if i in self._taken else ' '} {json.dumps(e)[:600]}"
            for i, e in enumerate(self.events)
        )
        parts = [
            f"JsSIP phone {self.name}: {what}",
            f"process: {'running' if returncode is None else f'exited with {returncode}'}",
            f"events (* = already expected):\n{events or '  (none)'}",
        ]
        if self._noise:
            parts.append("other stdout:\n" + "\n".join(self._noise[-20:]))
        if self._stderr:
            parts.append("stderr (JsSIP debug log, tail):\n" + "\n".join(self._stderr))
        return JsSipFailed("\n".join(parts))

    # -- events ----------------------------------------------------------------------------

    def find(self, name: str, **fields: Any) -> list[Event]:
        """Every event so far with this name and these field values."""
        return [e for e in self.events if e.get("event") == name and _matches(e, fields)]

    async def expect(self, name: str, *, within: float | None = None, **fields: Any) -> Event:
        """The first event `name` with these field values not returned before; waits for
        it up to `within` seconds. Raises JsSipFailed on timeout or if Node exits."""
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
            if not self.running and (self._reader is None or self._reader.done()):
                raise self._failure(f"exited while waiting for {name} {fields or ''}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._failure(f"no {name} {fields or ''} within {limit:g} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def expect_none(self, name: str, **fields: Any) -> None:
        """Fail if an event `name` with these fields was seen (no wait)."""
        found = self.find(name, **fields)
        if found:
            raise self._failure(f"unexpected {name}: {found}")

    # -- commands --------------------------------------------------------------------------

    async def command(self, cmd: str, *, within: float | None = None, **args: Any) -> Event:
        """Send one command and return its reply; JsSipFailed if it failed."""
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
            raise self._failure(f"no reply to {cmd} within {limit:g} s") from None
        if not reply.get("ok"):
            raise self._failure(f"{cmd} failed: {reply.get('error')}")
        return reply

    async def register(
        self,
        *,
        uri: str,
        ws_url: str,
        authorization_user: str | None = None,
        password: str | None = None,
        ha1: str | None = None,
        realm: str | None = None,
        display_name: str | None = None,
        register_expires: int | None = None,
    ) -> None:
        """Start the UA: it connects to `ws_url` and REGISTERs (await "registered" or
        "registrationFailed" with `expect`)."""
        args: dict[str, Any] = {"uri": uri, "ws_url": ws_url}
        optional = {
            "authorization_user": authorization_user,
            "password": password,
            "ha1": ha1,
            "realm": realm,
            "display_name": display_name,
            "register_expires": register_expires,
        }
        args.update({key: value for key, value in optional.items() if value is not None})
        await self.command("register", **args)

    async def call(self, target: str, *, extra_headers: Sequence[str] = ()) -> str:
        """Send an INVITE to `target`; returns the JsSIP session id."""
        reply = await self.command("call", target=target, extra_headers=list(extra_headers))
        return str(reply["session"])

    async def answer(self, session: str | None = None) -> str:
        return str((await self.command("answer", **_session(session)))["session"])

    async def reject(self, status: int = 486, session: str | None = None) -> None:
        await self.command("reject", status=status, **_session(session))

    async def hangup(self, session: str | None = None) -> None:
        await self.command("hangup", **_session(session))

    async def hold(self, session: str | None = None) -> None:
        """Hold by re-INVITE (a=sendonly); returns once the far end said 200."""
        await self.command("hold", **_session(session))

    async def unhold(self, session: str | None = None) -> None:
        await self.command("unhold", **_session(session))

    async def dtmf(
        self,
        tones: str,
        *,
        session: str | None = None,
        duration: int = 100,
        inter_tone_gap: int = 70,
    ) -> None:
        """JsSIP's sendDTMF with transportType INFO: one INFO (application/dtmf-relay)
        per tone, `duration + inter_tone_gap` ms apart."""
        await self.command(
            "dtmf",
            tones=tones,
            duration=duration,
            inter_tone_gap=inter_tone_gap,
            **_session(session),
        )

    async def info(self, content_type: str, body: str, *, session: str | None = None) -> int | None:
        """Send an in-dialog INFO; returns the status the far end answered with."""
        reply = await self.command(
            "info", content_type=content_type, body=body, **_session(session)
        )
        status = reply.get("status")
        return int(status) if status is not None else None

    async def unregister(self) -> None:
        """REGISTER with Expires 0 for our contact; returns once the server said 200."""
        await self.command("unregister")


def _session(session: str | None) -> dict[str, Any]:
    return {} if session is None else {"session": session}


def _matches(event: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    return all(event.get(key) == value for key, value in fields.items())
