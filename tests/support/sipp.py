"""SIPp as a real SIP peer in tests: typed async helpers to run scenarios and agents.

Everything runs on 127.0.0.1 with ports we allocate and check first. Each SIPp run gets
its own folder (statistics CSV, message log, error log, scenario log, final screen), and
a failed run raises `SippFailed` with all of that in the message, so a red test shows
the SIP conversation that went wrong.

The pieces:

- `Sipp`: an async context manager that owns a work folder and every SIPp process
  started through it, and kills whatever is still running when the block ends (the
  `sipp` fixture in a test module is one line over it). Its `run()` runs a scenario to
  the end, `start()` runs one in the background and returns a `SippProcess` (`stop()`,
  awaitable `wait()`, `wait_calls()`).
- `SippAgent`: one SIP identity (user, password, domain, transport, local port) with
  `register()`, `unregister()`, `call()` and `answer_calls()`.
- `run_scenario()`: a one-shot `Sipp.run()` in a temporary folder.

Scenario files live in tests/sip/scenarios/ (see the comment at the top of each). They
take these `-key` values, which every run passes (defaults first, `keys=` overrides):
`domain` (host part of Request-URI, From and To; default: the target, or 127.0.0.1),
`from_user` (our own user in UAC scenarios; default: `user`), `contact_transport` (the
`;transport=` in our Contact: lower case, because `[transport]` prints UDP/TCP/TLS and
the built-in uas's `transport=UDP` broke Sippy, see reference/performance.md),
`expires` (REGISTER; default 3600) and `refer_to` (uac_refer.xml's target URI).
`[service]` (`-s`) is the Request-URI user of a UAC and the agent's own user in a UAS.

How a UAS is reached through the B2BUA (uas_register_then_answer.xml): SIPp cannot send
first and then answer new calls in one scenario, because in client mode a request with
an unknown Call-ID is discarded and a server-mode scenario cannot start by sending. But
SIPp has out-of-call scenarios: with `-oocsf`, requests that match no call run that
scenario. So a registered agent is ONE SIPp process on ONE socket (`-t u1`, `t1` or
`l1`): the main scenario REGISTERs (digest) and then waits, and `-oocsf uas_answer.xml`
(or busy, noanswer, hangup) answers the server's INVITEs. Over TCP and TLS the server
reaches the agent on the very connection it registered from, like a real phone. SIPp
keeps no statistics for out-of-call calls and its exit code ignores them, so the UAS
scenarios log `CALLBOARD-CALL-START <call-id>` and `CALLBOARD-CALL-OK <call-id>`
(`-trace_logs`), and the harness counts those lines: a call that started and never
logged OK failed. (The alternative, REGISTER with register.xml and then a plain UAS on
the same port, loses the registration's TCP/TLS connection when the first SIPp exits.)

Digest: SIPp's `[authentication]` answers 401 and 407, but computes the digest with
`uri="sip:<remote_ip>:<remote_port>"` unless `-auth_uri` is given. The harness passes
`-auth_uri` equal to the Request-URI (`<domain>` for REGISTER, `<service>@<domain>` for
calls) so a registrar that checks the digest uri against the Request-URI accepts it.

SIPp exit codes: 0 every call succeeded, 1 at least one failed, 97 exit on internal
command or a global timeout without any successful call, 99 normal exit without calls,
255 fatal error (bad scenario, missing key), 254 bind error.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import csv
import functools
import io
import itertools
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, TypedDict, Unpack

from tests.support import leftovers

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "sip" / "scenarios"
LOCALHOST = "127.0.0.1"

Transport = Literal["udp", "tcp", "tls"]
_TRANSPORT_MODE: dict[str, str] = {"udp": "u1", "tcp": "t1", "tls": "l1"}

EXIT_CODES: dict[int, str] = {
    0: "all calls succeeded",
    1: "at least one call failed",
    97: "exit on internal command, or global timeout without a successful call",
    99: "normal exit without calls processed",
    254: "bind error",
    255: "fatal error",
}

CALL_START = "CALLBOARD-CALL-START"
CALL_OK = "CALLBOARD-CALL-OK"
REGISTERED = "CALLBOARD-REGISTERED"

# Scenarios whose Request-URI is sip:<domain> (REGISTER) rather than sip:<service>@<domain>.
_REGISTER_PREFIXES = ("register", "unregister", "uas_register")


class SippUnavailable(RuntimeError):
    """SIPp is not installed, or this build lacks what the test asks for (TLS). The SIP
    tests need the real thing: they fail with this, they never skip."""


class SippFailed(AssertionError):
    """A SIPp run did not do what the test expected; the message holds its logs."""


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise SippUnavailable(
            "`sipp` was not found on PATH. The SIP integration tests drive the real SIPp "
            "(Debian package sip-tester); install it with `bash scripts/install-test-deps.sh`."
        )
    return path


@functools.cache
def sipp_version() -> str:
    """`sipp -v`'s banner, e.g. "SIPp v3.6.1-SCTP-PCAP-RTPSTREAM" (the build's features)."""
    banner = subprocess.run(
        [sipp_binary(), "-v"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    match = re.search(r"SIPp v\S+", banner)
    return match.group(0).rstrip(".") if match else banner.strip()


def sipp_has_tls() -> bool:
    return "TLS" in sipp_version()


def scenario_path(scenario: str | Path) -> Path:
    """Our scenario by name ("uac_call" or "uac_call.xml"), or any existing file path."""
    path = Path(scenario)
    if path.is_file():
        return path.resolve()
    name = path.name if path.suffix == ".xml" else f"{path.name}.xml"
    candidate = SCENARIO_DIR / name
    if not candidate.is_file():
        known = ", ".join(sorted(p.name for p in SCENARIO_DIR.glob("*.xml")))
        raise FileNotFoundError(f"no SIPp scenario {scenario!r}; known: {known}")
    return candidate


# --------------------------------------------------------------------------- ports

# Recently handed-out ports: not given twice while SIPp may not have bound them yet.
_handed_out: collections.deque[int] = collections.deque(maxlen=4096)


def _bindable(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            # SIPp sets SO_REUSEADDR too; this still fails if anyone listens there.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
        return True


def free_port(*, span: int = 1, even: bool = False, tcp: bool = True) -> int:
    """A port (or `span` consecutive ports) free on 127.0.0.1 for UDP, and TCP if asked,
    and not handed out recently by this process."""
    for _ in range(500):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((LOCALHOST, 0))
            base: int = probe.getsockname()[1]
        if even and base % 2:
            base += 1
        ports = range(base, base + span)
        if ports[-1] > 65535 or any(p in _handed_out for p in ports):
            continue
        if all(_bindable(p, socket.SOCK_DGRAM) for p in ports) and (
            not tcp or all(_bindable(p, socket.SOCK_STREAM) for p in ports)
        ):
            _handed_out.extend(ports)
            return base
    raise RuntimeError("could not find a free port on 127.0.0.1")


def _bound_ports(kind: Literal["udp", "tcp"], ip: str = LOCALHOST) -> set[int]:
    """Ports bound on `ip` or 0.0.0.0 (UDP), or listening there (TCP), from /proc."""
    found: set[int] = set()
    wanted = (f"{int.from_bytes(socket.inet_aton(ip), 'little'):08X}", "00000000")
    with contextlib.suppress(FileNotFoundError):
        for line in Path(f"/proc/net/{kind}").read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].split(":")
            if address not in wanted:
                continue
            if kind == "tcp" and fields[3] != "0A":  # LISTEN
                continue
            found.add(int(port, 16))
    return found


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SippResult:
    """How a SIPp run ended.

    `successful` and `failed` count calls ("call" in SIPp's sense: one REGISTER exchange
    is a call too). For UAC scenarios they are SIPp's own counters (-trace_stat), and
    `unfinished` the calls still running when SIPp stopped. Our UAS scenarios log
    CALLBOARD-CALL-START and CALLBOARD-CALL-OK, and for them (`log_counted`) the counts
    come from those lines: a call that started and never logged OK failed, even one still
    running at stop(). SIPp's own view of a UAS can differ once the call's work is done
    (a TCP peer that closes the connection right after the last message can make SIPp
    count a "failed" call, exit code 1), so `ok` accepts exit code 1 there; `sipp_counts`
    keeps SIPp's numbers for the report. `registered` is set for a registered agent: whether
    its REGISTER passed.
    """

    scenario: str
    command: tuple[str, ...]
    exit_code: int
    successful: int
    failed: int
    unfinished: int
    stopped: bool
    messages: str
    errors: str
    log: str
    screen: str
    stderr: str
    log_counted: bool = False
    sipp_counts: tuple[int, int, int] = (0, 0, 0)
    registered: bool | None = None

    @property
    def ok(self) -> bool:
        return (
            self.exit_code in ((0, 1) if self.log_counted else (0,))
            and self.failed == 0
            and self.unfinished == 0
            and self.successful > 0
            and self.registered is not False
        )

    def exchanged(self) -> list[tuple[Literal["sent", "received"], str]]:
        """The SIP messages of the -trace_msg log, in order, as (direction, text)."""
        found: list[tuple[Literal["sent", "received"], str]] = []
        for block in re.split(r"^-{20,} \S+ \S+\n", self.messages, flags=re.MULTILINE):
            head, _, body = block.partition("\n")
            direction = re.match(r"\w+ message (sent|received)", head)
            if direction is not None:
                kind: Literal["sent", "received"] = (
                    "sent" if direction.group(1) == "sent" else "received"
                )
                found.append((kind, body.strip("\n") + "\n"))
        return found

    def received(self, start: str = "") -> list[str]:
        """Messages received whose first line starts with `start` ("INVITE", "SIP/2.0 487")."""
        return [
            text for kind, text in self.exchanged() if kind == "received" and text.startswith(start)
        ]

    def sent(self, start: str = "") -> list[str]:
        """Messages sent whose first line starts with `start`."""
        return [
            text for kind, text in self.exchanged() if kind == "sent" and text.startswith(start)
        ]

    def check(self, calls: int | None = None) -> SippResult:
        """Raise SippFailed with the whole story unless the run succeeded (with exactly
        `calls` successful calls, if given)."""
        if not self.ok or (calls is not None and self.successful != calls):
            wanted = f" (expected {calls} successful)" if calls is not None else ""
            raise SippFailed(f"SIPp scenario {self.scenario} failed{wanted}\n{self.report()}")
        return self

    def report(self, max_chars: int = 30_000) -> str:
        meaning = EXIT_CODES.get(
            self.exit_code, "killed by a signal" if self.exit_code < 0 else "?"
        )
        parts = [
            f"command: {' '.join(self.command)}",
            f"exit code: {self.exit_code} ({meaning}){' after stop()' if self.stopped else ''}",
            f"calls: {self.successful} successful, {self.failed} failed, "
            f"{self.unfinished} unfinished"
            + (" (from the CALLBOARD-CALL-* log lines)" if self.log_counted else "")
            + ("" if self.registered is None else f"; registered: {self.registered}"),
            "SIPp's own counters: {} successful, {} failed, {} current".format(*self.sipp_counts),
        ]
        for title, text in (
            ("stderr", self.stderr),
            ("error log (-trace_err)", self.errors),
            ("scenario log (-trace_logs)", self.log),
            ("messages (-trace_msg)", self.messages),
        ):
            if text.strip():
                parts.append(f"----- {title} -----\n{_tail(text, max_chars)}")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.report()


def _tail(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text.rstrip()
    return f"[... {len(text) - max_chars} characters cut ...]\n{text[-max_chars:].rstrip()}"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _stat_counts(stat_csv: str, screen: str) -> tuple[int, int, int] | None:
    """(successful, failed, current) from the last -trace_stat row, else the final screen."""
    rows = [row for row in csv.reader(io.StringIO(stat_csv), delimiter=";") if row]
    if len(rows) >= 2 and "SuccessfulCall(C)" in rows[0]:
        header, last = rows[0], rows[-1]
        try:
            return (
                int(last[header.index("SuccessfulCall(C)")]),
                int(last[header.index("FailedCall(C)")]),
                int(last[header.index("CurrentCall")]),
            )
        except (ValueError, IndexError):
            pass
    ok = re.search(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    failed = re.search(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    if ok and failed:
        return int(ok.group(1)), int(failed.group(1)), 0
    return None


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class SippOptions:
    """One SIPp command line. `Sipp.start()` fills in ports, keys and files."""

    scenario: Path
    target: str | None = None
    transport: Transport = "udp"
    local_port: int | None = None
    service: str | None = None
    user: str | None = None
    password: str | None = None
    domain: str | None = None
    auth_uri: str | None = None
    calls: int | None = 1
    rate: float | None = None
    rate_period_ms: int | None = None
    duration_ms: int | None = None
    keys: Mapping[str, str] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)
    inject_files: Sequence[Path] = ()
    ooc_scenario: Path | None = None
    recv_timeout_ms: int | None = 10_000
    timeout_s: float = 60.0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    auto_answer: bool = False
    rtp_echo: bool = False
    trace_messages: bool = True
    extra_args: Sequence[str] = ()
    #: The address SIPp binds and puts in its messages (-i): another loopback address
    #: such as 127.0.0.2 plays a peer at a distinct IP (a trunk provider).
    local_ip: str = LOCALHOST

    @property
    def name(self) -> str:
        if self.ooc_scenario is None:
            return self.scenario.stem
        return f"{self.scenario.stem}+{self.ooc_scenario.stem}"

    def all_keys(self) -> dict[str, str]:
        domain = self.domain or self.target or LOCALHOST
        keys = {
            "domain": domain,
            "from_user": self.user or "sipp",
            "contact_transport": self.transport,
            "expires": "3600",
            "refer_to": f"sip:transfer-target@{domain}",
        }
        keys.update(self.keys)
        return keys

    def digest_uri(self) -> str:
        if self.auth_uri is not None:
            return self.auth_uri
        domain = self.all_keys()["domain"]
        if self.scenario.stem.startswith(_REGISTER_PREFIXES) or not self.service:
            return domain
        return f"{self.service}@{domain}"


@dataclass(frozen=True)
class _RunFiles:
    folder: Path

    @property
    def stat(self) -> Path:
        return self.folder / "stat.csv"

    @property
    def messages(self) -> Path:
        return self.folder / "messages.log"

    @property
    def errors(self) -> Path:
        return self.folder / "errors.log"

    @property
    def log(self) -> Path:
        return self.folder / "scenario.log"

    @property
    def screen(self) -> Path:
        return self.folder / "screen.log"

    @property
    def stdout(self) -> Path:
        return self.folder / "stdout.txt"

    @property
    def stderr(self) -> Path:
        return self.folder / "stderr.txt"


def build_command(
    options: SippOptions, files: _RunFiles, local_port: int, media_port: int
) -> list[str]:
    o = options
    command = [sipp_binary(), "-sf", str(o.scenario)]
    if o.target is not None:
        command.append(o.target)
    command += [
        "-t",
        _TRANSPORT_MODE[o.transport],
        "-i",
        o.local_ip,
        "-bind_local",
        "-p",
        str(local_port),
        "-mp",
        str(media_port),
        "-nostdin",
        "-timeout",
        f"{o.timeout_s:g}s",
        "-trace_stat",
        "-stf",
        str(files.stat),
        "-fd",
        "1",
        "-trace_screen",
        "-screen_file",
        str(files.screen),
        "-trace_err",
        "-error_file",
        str(files.errors),
        "-trace_logs",
        "-log_file",
        str(files.log),
    ]
    if o.trace_messages:
        command += ["-trace_msg", "-message_file", str(files.messages)]
    if o.ooc_scenario is not None:
        command += ["-oocsf", str(o.ooc_scenario)]
    if o.service is not None:
        command += ["-s", o.service]
    if o.user is not None:
        command += ["-au", o.user]
    if o.password is not None:
        command += ["-ap", o.password]
    if o.user is not None or o.password is not None:
        command += ["-auth_uri", o.digest_uri()]
    if o.calls is not None:
        command += ["-m", str(o.calls)]
    if o.rate is not None:
        command += ["-r", f"{o.rate:g}"]
    if o.rate_period_ms is not None:
        command += ["-rp", str(o.rate_period_ms)]
    if o.duration_ms is not None:
        command += ["-d", str(o.duration_ms)]
    if o.recv_timeout_ms is not None:
        command += ["-recv_timeout", str(o.recv_timeout_ms)]
    for key, value in o.all_keys().items():
        command += ["-key", key, value]
    for name, value in o.variables.items():
        command += ["-set", name, value]
    for path in o.inject_files:
        command += ["-inf", str(path)]
    if o.transport == "tls":
        if o.tls_cert is None or o.tls_key is None:
            raise ValueError("TLS needs tls_cert and tls_key")
        command += ["-tls_cert", str(o.tls_cert), "-tls_key", str(o.tls_key)]
    if o.auto_answer:
        command.append("-aa")
    if o.rtp_echo:
        command.append("-rtp_echo")
    command += list(o.extra_args)
    return command


class StartOptions(TypedDict, total=False):
    """The keyword options of `Sipp.start()`, for functions that pass them on."""

    transport: Transport
    local_port: int | None
    service: str | None
    user: str | None
    password: str | None
    domain: str | None
    auth_uri: str | None
    calls: int | None
    rate: float | None
    rate_period_ms: int | None
    duration_ms: int | None
    keys: Mapping[str, str] | None
    variables: Mapping[str, str] | None
    inject_files: Sequence[Path]
    ooc_scenario: str | Path | None
    recv_timeout_ms: int | None
    timeout_s: float
    auto_answer: bool
    rtp_echo: bool
    trace_messages: bool
    extra_args: Sequence[str]
    wait_listening: bool | None
    local_ip: str


# --------------------------------------------------------------------------- processes


class SippProcess:
    """A SIPp process started by `Sipp.start()`."""

    def __init__(
        self,
        options: SippOptions,
        command: list[str],
        files: _RunFiles,
        process: asyncio.subprocess.Process,
        outputs: list[IO[bytes]],
        local_port: int,
        media_port: int,
    ) -> None:
        self.options = options
        self.command = command
        self.files = files
        self.local_port = local_port
        self.media_port = media_port
        self._process = process
        self._outputs = outputs
        self._stopped = False
        self._result: SippResult | None = None

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def address(self) -> str:
        """host:port where this SIPp listens: the target for calls to a plain UAS."""
        return f"{self.options.local_ip}:{self.local_port}"

    @property
    def running(self) -> bool:
        return self._process.returncode is None

    def log_text(self) -> str:
        return _read(self.files.log)

    def count_log(self, marker: str) -> int:
        return sum(1 for line in self.log_text().splitlines() if line.startswith(marker))

    async def wait(self, within: float | None = None) -> SippResult:
        """Wait for SIPp to finish by itself (its -m calls done, or its -timeout). If it
        outlives `within` seconds (default: its own -timeout plus 15) it is killed and
        SippFailed is raised."""
        limit = self.options.timeout_s + 15 if within is None else within
        try:
            await asyncio.wait_for(self._process.wait(), limit)
        except TimeoutError:
            await self._terminate()
            raise SippFailed(
                f"SIPp {self.options.name} still running after {limit:g} s; killed\n"
                f"{self._collect().report()}"
            ) from None
        return self._collect()

    async def stop(self, within: float = 5.0) -> SippResult:
        """End SIPp now (SIGTERM, which still writes its statistics; SIGKILL after
        `within` seconds) and return how it went."""
        if self.running:
            self._stopped = True
            await self._terminate(within)
        else:
            await self._process.wait()
        return self._collect()

    async def _terminate(self, within: float = 5.0) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), within)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self._process.kill()
                await self._process.wait()

    async def wait_for_log(self, marker: str, count: int = 1, within: float = 10.0) -> None:
        """Wait until the scenario log holds `count` lines starting with `marker`."""
        deadline = time.monotonic() + within
        while self.count_log(marker) < count:
            if not self.running:
                await self._process.wait()
                raise SippFailed(
                    f"SIPp {self.options.name} exited before logging {count} x {marker}\n"
                    f"{self._collect().report()}"
                )
            if time.monotonic() > deadline:
                raise SippFailed(
                    f"SIPp {self.options.name}: no {count} x {marker} within {within:g} s\n"
                    f"{self._snapshot().report()}"
                )
            await asyncio.sleep(0.05)

    async def wait_calls(self, completed: int = 1, within: float = 10.0) -> None:
        """Wait until this UAS has completed `completed` calls (CALLBOARD-CALL-OK lines)."""
        await self.wait_for_log(CALL_OK, completed, within)

    async def wait_listening(self, within: float = 10.0) -> None:
        """Wait until SIPp has bound its SIP port (UDP) or listens on it (TCP, TLS)."""
        kind: Literal["udp", "tcp"] = "udp" if self.options.transport == "udp" else "tcp"
        deadline = time.monotonic() + within
        while self.local_port not in _bound_ports(kind, self.options.local_ip):
            if not self.running:
                await self._process.wait()
                raise SippFailed(
                    f"SIPp {self.options.name} exited before listening on {self.address}\n"
                    f"{self._collect().report()}"
                )
            if time.monotonic() > deadline:
                raise SippFailed(f"SIPp {self.options.name} not listening on {self.address}")
            await asyncio.sleep(0.02)

    def _snapshot(self) -> SippResult:
        return self._build_result(self._process.returncode or 0)

    def _collect(self) -> SippResult:
        if self._result is None:
            for output in self._outputs:
                output.close()
            leftovers.forget(self.pid)
            code = self._process.returncode
            self._result = self._build_result(code if code is not None else -1)
        return self._result

    def _build_result(self, exit_code: int) -> SippResult:
        f = self.files
        screen = _read(f.screen) or _read(f.stdout)
        log = _read(f.log)
        sipp_counts = _stat_counts(_read(f.stat), screen) or (0, 0, 0)
        successful, failed, unfinished = sipp_counts
        log_lines = log.splitlines()
        started = sum(1 for line in log_lines if line.startswith(CALL_START))
        completed = sum(1 for line in log_lines if line.startswith(CALL_OK))
        log_counted = bool(started) or self.options.ooc_scenario is not None
        if log_counted:
            successful, failed, unfinished = completed, started - completed, 0
        registered: bool | None = None
        if self.options.ooc_scenario is not None:
            registered = any(line.startswith(REGISTERED) for line in log_lines)
        return SippResult(
            scenario=self.options.name,
            command=tuple(self.command),
            exit_code=exit_code,
            successful=successful,
            failed=failed,
            unfinished=unfinished,
            stopped=self._stopped,
            messages=_read(f.messages),
            errors=_read(f.errors),
            log=log,
            screen=screen,
            stderr=_read(f.stderr),
            log_counted=log_counted,
            sipp_counts=sipp_counts,
            registered=registered,
        )


class Sipp:
    """Owns a work folder and the SIPp processes started from it; kills them on exit."""

    def __init__(self, workdir: Path) -> None:
        sipp_binary()
        self.workdir = workdir
        self._processes: list[SippProcess] = []
        self._counter = itertools.count(1)
        self._tls: tuple[Path, Path] | None = None

    async def __aenter__(self) -> Sipp:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every process still running (SIGTERM, then SIGKILL)."""
        await asyncio.gather(*(p.stop(within=3.0) for p in self._processes if p.running))

    def agent(
        self,
        user: str,
        password: str | None = None,
        *,
        domain: str | None = None,
        transport: Transport = "udp",
        local_port: int | None = None,
    ) -> SippAgent:
        return SippAgent(
            self, user, password, domain=domain, transport=transport, local_port=local_port
        )

    def tls_files(self) -> tuple[Path, Path]:
        """A self-signed certificate and key for 127.0.0.1 (made once per `Sipp`)."""
        if self._tls is None:
            cert, key = self.workdir / "tls-cert.pem", self.workdir / "tls-key.pem"
            subprocess.run(
                [
                    "openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-keyout",
                    str(key),
                    "-out",
                    str(cert),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            self._tls = (cert, key)
        return self._tls

    async def start(
        self,
        scenario: str | Path,
        target: str | None = None,
        *,
        transport: Transport = "udp",
        local_port: int | None = None,
        service: str | None = None,
        user: str | None = None,
        password: str | None = None,
        domain: str | None = None,
        auth_uri: str | None = None,
        calls: int | None = 1,
        rate: float | None = None,
        rate_period_ms: int | None = None,
        duration_ms: int | None = None,
        keys: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        inject_files: Sequence[Path] = (),
        ooc_scenario: str | Path | None = None,
        recv_timeout_ms: int | None = 10_000,
        timeout_s: float = 60.0,
        auto_answer: bool = False,
        rtp_echo: bool = False,
        trace_messages: bool = True,
        extra_args: Sequence[str] = (),
        wait_listening: bool | None = None,
        local_ip: str = LOCALHOST,
    ) -> SippProcess:
        """Start SIPp in the background.

        `target` is "host:port" (None for a UAS that only answers). `calls` is -m (None:
        run until stopped). `wait_listening` (default: when there is no target) returns
        only once the SIP port is bound, so a UAC started next cannot race it.
        `local_ip` is SIPp's own address (-i), 127.0.0.1 unless another loopback
        address must play a distinct peer.
        """
        if transport == "tls" and not sipp_has_tls():
            raise SippUnavailable(
                f"this SIPp ({sipp_version()}) was built without TLS: Debian's sip-tester "
                "has no OpenSSL (sipp says 'To use a TLS transport you must compile SIPp "
                "with OpenSSL'). Build SIPp with -DUSE_SSL=1 for SIPp over TLS, or use the "
                "baresip softphone (tests/support/softphone.py), which speaks TLS."
            )
        tls_cert, tls_key = self.tls_files() if transport == "tls" else (None, None)
        options = SippOptions(
            scenario=scenario_path(scenario),
            target=target,
            transport=transport,
            local_port=local_port,
            service=service,
            user=user,
            password=password,
            domain=domain,
            auth_uri=auth_uri,
            calls=calls,
            rate=rate,
            rate_period_ms=rate_period_ms,
            duration_ms=duration_ms,
            keys=dict(keys or {}),
            variables=dict(variables or {}),
            inject_files=tuple(inject_files),
            ooc_scenario=scenario_path(ooc_scenario) if ooc_scenario is not None else None,
            recv_timeout_ms=recv_timeout_ms,
            timeout_s=timeout_s,
            tls_cert=tls_cert,
            tls_key=tls_key,
            auto_answer=auto_answer,
            rtp_echo=rtp_echo,
            trace_messages=trace_messages,
            extra_args=tuple(extra_args),
            local_ip=local_ip,
        )
        process = await self._spawn(options)
        if wait_listening is None:
            wait_listening = target is None
        if wait_listening:
            await process.wait_listening()
        return process

    async def run(
        self,
        scenario: str | Path,
        target: str | None = None,
        *,
        check: bool = False,
        **options: Unpack[StartOptions],
    ) -> SippResult:
        """Run a scenario to its end; see `start()` for the options. With `check=True`
        a failed run raises SippFailed."""
        process = await self.start(scenario, target, **options)
        result = await process.wait()
        return result.check() if check else result

    async def _spawn(self, options: SippOptions) -> SippProcess:
        # A port can be taken between our check and SIPp's bind (other sessions run
        # SIPp on this machine too): on a bind failure, retry with fresh ports.
        for attempt in range(3):
            local_port = options.local_port or free_port(tcp=True)
            media_port = free_port(span=4, even=True, tcp=False)
            folder = self.workdir / f"{next(self._counter):03d}-{options.name}"
            folder.mkdir(parents=True)
            files = _RunFiles(folder)
            command = build_command(options, files, local_port, media_port)
            (folder / "command.txt").write_text(" ".join(command) + "\n")
            stdout = files.stdout.open("wb")
            stderr = files.stderr.open("wb")
            proc = await asyncio.create_subprocess_exec(
                *command,
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
            leftovers.track(proc)
            process = SippProcess(
                options, command, files, proc, [stdout, stderr], local_port, media_port
            )
            self._processes.append(process)
            if await self._bind_failed(process) and attempt < 2 and options.local_port is None:
                continue
            return process
        raise AssertionError("unreachable")

    @staticmethod
    async def _bind_failed(process: SippProcess) -> bool:
        """Give SIPp a moment to fail on its sockets; True if it did."""
        for _ in range(10):
            if not process.running:
                break
            await asyncio.sleep(0.01)
        if process.running:
            return False
        await process._process.wait()
        text = _read(process.files.stderr) + _read(process.files.errors)
        return bool(re.search(r"Unable to bind|Address already in use", text))


class SippAgent:
    """One SIP identity played by SIPp: a user, its password and domain, a transport and
    a local port kept for its registration and its answering process (so the Contact it
    registers is where it answers). UAC calls use fresh ports."""

    def __init__(
        self,
        sipp: Sipp,
        user: str,
        password: str | None = None,
        *,
        domain: str | None = None,
        transport: Transport = "udp",
        local_port: int | None = None,
    ) -> None:
        self.sipp = sipp
        self.user = user
        self.password = password
        self.domain = domain
        self.transport: Transport = transport
        self.local_port = local_port or free_port()

    @property
    def contact(self) -> str:
        return f"sip:{self.user}@{LOCALHOST}:{self.local_port};transport={self.transport}"

    async def register(
        self,
        server: str,
        *,
        scenario: str = "register.xml",
        expires: int = 3600,
        check: bool = True,
        timeout_s: float = 30.0,
    ) -> SippResult:
        """REGISTER (with digest auth) from our local port. `scenario` may be
        "register_wrong_password.xml", whose success means the server refused."""
        process = await self.sipp.start(
            scenario,
            server,
            transport=self.transport,
            local_port=self.local_port,
            service=self.user,
            user=self.user,
            password=self.password,
            domain=self.domain,
            keys={"expires": str(expires)},
            timeout_s=timeout_s,
        )
        result = await process.wait()
        return result.check(calls=1) if check else result

    async def unregister(self, server: str, *, check: bool = True) -> SippResult:
        return await self.register(server, scenario="unregister.xml", expires=0, check=check)

    async def call(
        self,
        server: str,
        callee: str,
        *,
        scenario: str = "uac_call.xml",
        duration_ms: int = 500,
        calls: int = 1,
        keys: Mapping[str, str] | None = None,
        recv_timeout_ms: int = 10_000,
        timeout_s: float = 60.0,
        check: bool = True,
    ) -> SippResult:
        """Place `calls` calls to `callee` (the Request-URI user) through `server`."""
        process = await self.sipp.start(
            scenario,
            server,
            transport=self.transport,
            service=callee,
            user=self.user,
            password=self.password,
            domain=self.domain,
            calls=calls,
            duration_ms=duration_ms,
            keys=keys,
            recv_timeout_ms=recv_timeout_ms,
            timeout_s=timeout_s,
        )
        result = await process.wait()
        return result.check(calls=calls) if check else result

    async def answer_calls(
        self,
        *,
        server: str | None = None,
        scenario: str = "uas_answer.xml",
        calls: int | None = None,
        duration_ms: int = 500,
        expires: int = 3600,
        recv_timeout_ms: int = 30_000,
        timeout_s: float = 300.0,
        register_timeout: float = 10.0,
        rtp_echo: bool = False,
    ) -> SippProcess:
        """Answer incoming calls with a UAS scenario, in the background.

        With `server`, the agent first REGISTERs there (uas_register_then_answer.xml)
        and this returns once the registrar said 200; INVITEs then run `scenario` as
        SIPp's out-of-call scenario, on the same socket. Without `server` it is a plain
        UAS on our local port (`calls` of them, or until stopped), for direct calls.
        `rtp_echo` sends the caller's RTP back to it (SIPp's -rtp_echo), so a softphone
        hears its own DTMF.
        """
        if server is None:
            return await self.sipp.start(
                scenario,
                transport=self.transport,
                local_port=self.local_port,
                service=self.user,
                calls=calls,
                duration_ms=duration_ms,
                recv_timeout_ms=recv_timeout_ms,
                timeout_s=timeout_s,
                rtp_echo=rtp_echo,
            )
        process = await self.sipp.start(
            "uas_register_then_answer.xml",
            server,
            transport=self.transport,
            local_port=self.local_port,
            service=self.user,
            user=self.user,
            password=self.password,
            domain=self.domain,
            ooc_scenario=scenario,
            calls=1,
            duration_ms=duration_ms,
            keys={"expires": str(expires)},
            recv_timeout_ms=recv_timeout_ms,
            timeout_s=timeout_s,
            wait_listening=False,
            rtp_echo=rtp_echo,
        )
        await process.wait_for_log(REGISTERED, within=register_timeout)
        return process


async def run_scenario(
    scenario: str | Path,
    target: str | None = None,
    *,
    workdir: Path | None = None,
    check: bool = False,
    **options: Unpack[StartOptions],
) -> SippResult:
    """Run one scenario to its end in its own `Sipp` (a temporary folder unless
    `workdir` is given). Options as for `Sipp.start()`."""
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        async with Sipp(folder) as sipp:
            return await sipp.run(scenario, target, check=check, **options)


@contextlib.asynccontextmanager
async def sipp_session(workdir: Path) -> AsyncIterator[Sipp]:
    """`async with sipp_session(tmp_path) as sipp:`; the body of a `sipp` fixture."""
    async with Sipp(workdir) as sipp:
        yield sipp
