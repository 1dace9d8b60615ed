"""A Node.js script driven over JSON lines: the shared driver of the Node test peers.

`JsSipPhone` (tests/support/jssip.py) and `WebitelClient` (tests/support/webitel.py) each
run one Node script and talk to it the same way: a command is one JSON object on stdin,
`{"id": 1, "cmd": "...", ...}`, answered by exactly one `{"event": "reply", "id": 1,
"ok": ...}` line on stdout; every other stdout line is an event `{"event": "...", ...}`.
The script's stderr (its debug log) is kept, and its tail goes into every failure
report with all the events seen, so a failing test says what the peer saw.

`NodeProcess` is that driver: start (the script says `ready` first), `command()`,
`expect()` / `find()` on the events, `kill()`. A subclass names its script, its
failure class and what its report calls things, checks its npm modules, and gives its
commands their Python names. The process runs in its own process group, is SIGKILLed when
the `async with` block ends, and at interpreter exit as a last resort.
"""

from __future__ import annotations

import asyncio
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
from typing import Any, ClassVar, Self

from tests.support import leftovers

Event = dict[str, Any]


class NodeUnavailable(RuntimeError):
    """Node, or a harness's npm modules, are missing. Install them; never skip."""


def node_binary(unavailable: type[NodeUnavailable] = NodeUnavailable) -> str:
    """The `node` on PATH, or `unavailable` saying how to install it."""
    path = shutil.which("node")
    if path is None:
        raise unavailable(
            "`node` was not found on PATH. The Node test peers (JsSIP, webitel-sdk) need "
            "Node 20 or newer; install Node, then `bash scripts/install-test-deps.sh`."
        )
    return path


@functools.cache
def node_major() -> int:
    """The major version of the `node` on PATH."""
    out = subprocess.run(
        [node_binary(), "--version"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    return int(out.strip().lstrip("v").split(".")[0])


def installed_version(harness_dir: Path, package: str) -> str | None:
    """The version of npm `package` in `harness_dir`'s node_modules, None if absent."""
    manifest = harness_dir / "node_modules" / package / "package.json"
    if not manifest.is_file():
        return None
    version = json.loads(manifest.read_text()).get("version")
    return str(version) if version is not None else None


class NodeProcess:
    """One Node script speaking JSON lines. See the module documentation."""

    #: The script, run with the folder it is in as working directory.
    script: ClassVar[Path]
    #: What reports call this peer: "JsSIP phone", "webitel-sdk client".
    label: ClassVar[str]
    #: The AssertionError subclass a failed expectation raises.
    failure_class: ClassVar[type[AssertionError]]
    #: What reports call the stderr tail, how many lines are kept and shown, and how much
    #: of each event a report shows.
    stderr_title: ClassVar[str] = "stderr (tail)"
    stderr_kept: ClassVar[int] = 400
    stderr_shown: ClassVar[int] = 400
    event_width: ClassVar[int] = 600
    #: Added to "no reply to X within N s".
    no_reply_hint: ClassVar[str] = ""

    def __init__(
        self, name: str, *, insecure_tls: bool = False, debug: bool = True, timeout: float = 10.0
    ) -> None:
        """
        Args:
            name: for messages.
            insecure_tls: accept the node's self-signed certificate (WSS): sets
                NODE_TLS_REJECT_UNAUTHORIZED=0 in this Node process's environment only.
            debug: the script's debug log to stderr, kept for reports.
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
        self._stderr: collections.deque[str] = collections.deque(maxlen=self.stderr_kept)
        self._noise: list[str] = []

    # -- what a subclass provides ----------------------------------------------------------

    def check_installed(self) -> None:
        """Raise NodeUnavailable unless node and the script's npm modules are there."""
        node_binary()

    def environment(self) -> dict[str, str]:
        """The Node process's environment: ours, with NODE_TLS_REJECT_UNAUTHORIZED=0 only
        for `insecure_tls`. A subclass adds its debug switches."""
        env = dict(os.environ)
        env.pop("NODE_TLS_REJECT_UNAUTHORIZED", None)
        if self.debug:
            env["DEBUG_COLORS"] = "0"
        if self.insecure_tls:
            env["NODE_TLS_REJECT_UNAUTHORIZED"] = "0"
        return env

    def check_ready(self, ready: Event) -> None:
        """Check the script's `ready` event (the versions it loaded)."""

    def check_events(self, name: str) -> None:
        """Called while `expect(name)` waits: raise to fail at once."""

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

    async def start(self) -> Event:
        """Run the script and wait for its `ready` event, which it returns."""
        self.check_installed()
        args = [node_binary()]
        if node_major() < 22:
            args.append("--experimental-websocket")
        args += ["--no-warnings", str(self.script)]
        process = await asyncio.create_subprocess_exec(
            *args,
            cwd=self.script.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.environment(),
            start_new_session=True,
            limit=4 * 1024 * 1024,
        )
        self._process = process
        leftovers.track(process)
        self._reader = asyncio.create_task(self._read_stdout())
        self._stderr_task = asyncio.create_task(self._read_stderr())
        ready = await self.expect("ready")
        self.check_ready(ready)
        return ready

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
        leftovers.forget(process.pid)
        for task in (self._reader, self._stderr_task):
            if task is not None:
                await task
        if process.stdin is not None:
            process.stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await process.stdin.wait_closed()

    async def wait_exit(self) -> None:
        """Wait up to `timeout` for the process to end by itself, then kill it."""
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

    def _failure(self, what: str) -> AssertionError:
        return self.failure_class(self._report(what))

    def _report(self, what: str) -> str:
        """`what` went wrong, with every event (marked if expected already), stray
        stdout and the tail of stderr."""
        returncode = self._process.returncode if self._process is not None else None
        events = "\n".join(
            f"  {'*' if i in self._taken else ' '} {json.dumps(e)[: self.event_width]}"
            for i, e in enumerate(self.events)
        )
        parts = [
            f"{self.label} {self.name}: {what}",
            f"process: {'running' if returncode is None else f'exited with {returncode}'}",
            f"events (* = already expected):\n{events or '  (none)'}",
        ]
        if self._noise:
            parts.append("other stdout:\n" + "\n".join(self._noise[-20:]))
        if self._stderr:
            tail = list(self._stderr)[-self.stderr_shown :]
            parts.append(f"{self.stderr_title}:\n" + "\n".join(tail))
        return "\n".join(parts)

    # -- events ----------------------------------------------------------------------------

    def find(self, name: str, **fields: Any) -> list[Event]:
        """Every event so far with this name and these field values."""
        return [e for e in self.events if e.get("event") == name and _matches(e, fields)]

    async def expect(self, name: str, *, within: float | None = None, **fields: Any) -> Event:
        """The first event `name` with these field values not returned before; waits for
        it up to `within` seconds. Fails (`failure_class`) on timeout, if Node exits, or
        when `check_events` says so."""
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
            self.check_events(name)
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

    async def request(self, cmd: str, *, within: float | None = None, **args: Any) -> Event:
        """Send one command and return its reply line as it is, `ok` true or false."""
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
            return await asyncio.wait_for(future, limit)
        except TimeoutError:
            self._replies.pop(request_id, None)
            raise self._failure(
                f"no reply to {cmd} within {limit:g} s{self.no_reply_hint}"
            ) from None


def _matches(event: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    return all(event.get(key) == value for key, value in fields.items())
