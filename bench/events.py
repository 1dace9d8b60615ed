#!/usr/bin/env python3
"""Event-latency benchmark: SIP state change -> webitel-sdk WebSocket frame (issue 4).

A benchmark, not a test. Against a real `callboard serve` it starts itself, it measures
how fast call events reach many subscribed WebSocket clients while a steady call load
runs, what each connected client costs in memory, and whether delivering to them slows
the call engine; and it runs the reference's fan-out method (N clients of one user, 20
events/s) so the figures can be set beside ../shared/reference/performance.md.

What runs (all on 127.0.0.1, every process started and stopped by pid):

    bench/sip_load.py (raw SIP UAC) --INVITE/BYE--> callboard serve --INVITE--> SIPp UAS
                                                          | WebSocket (webitel-sdk)
                                      bench/ws_clients.mjs (Node `ws`, 1,000 clients)

- N users (100), each with a SIP device and an integration token, made over the REST API;
  every user's device REGISTERs (SIPp, digest auth) from the one SIPp UAS port, so a call
  to any user rings the UAS, which answers (180, 200) and logs each message with its
  send time (-trace_msg, µs).
- The UAC calls from user k to user k + N/2 at a fixed rate (50 cps, 1 s calls), with
  digest authentication on every INVITE, recording the send time of each of its messages.
- The clients (1,000, spread over the users like browser tabs) authenticate with the
  users' tokens and subscribe_call, and timestamp every `call` frame on arrival.

Event latency = frame arrival - the send time of the SIP message that caused the event,
all on the host's wall clock: `ringing` <- the authenticated INVITE (UAC), `active` and
`bridge` <- the callee's 200 (UAS), `hangup` <- the BYE (UAC). Legs are tied to SIP calls
by the events' own fields (ringing's `sip_id` and `parent_id`, bridge's `bridged_id`) and
the `X-Webitel-Uuid` of the INVITE the UAS received. A second figure uses the event's
own `timestamp` (the server's, whole milliseconds). Lost events: each client's per-user
`seq` from its subscription to the end must arrive exactly once, in order.

Phases (full run, about 4 minutes): warm-up; memory with 0 and then 1,000 idle
subscribed clients (RSS and PSS from /proc/<pid>/smaps_rollup); the call load with the
1,000 clients; the same load with no client (the engine alone: setup latency and CPU
compared); the anchor's method. Results: bench/results/events-<UTC>/ (report.md,
results.json, every process's command and logs, frames.csv, calls.jsonl); a full run
also writes bench/EVENTS.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    ADMIN_TOKEN,
    BENCH_DIR,
    DOMAIN,
    LOCALHOST,
    PROCS,
    SAMPLER,
    BenchError,
    BenchTimeout,
    Interrupted,
    Ports,
    api_request,
    arm_time_limit,
    callboard_env,
    callboard_versions,
    finish_run,
    fmt,
    log,
    open_results,
    percentile,
    provision_phone_user,
    py_spy_binary,
    py_spy_profile,
    ratio,
    read_stat_rows,
    run_meta,
    sipp_base,
    sipp_uas,
    smaps_rollup,
    start_callboard,
    start_py_spy,
    stat_int,
    trace_messages,
    wait_quiet,
    wait_udp_bound,
)

WS_VERSION = "8.23.0"
WS_PATH = "/ws/websocket"
FIRST_EXTENSION = 4000

#: The reference's fan-out anchors, 1,000 clients, 20 events/s (performance.md).
ANCHORS: tuple[tuple[str, float, float, float, float, float | None], ...] = (
    # name, p50 ms, p99 ms, max ms, server CPU %, KiB per idle client
    ("FastAPI/uvicorn, naive `await ws.send_text` loop", 10.6, 28.4, 46.5, 39, 30.7),
    ("FastAPI, a queue and task per client", 17.4, 60.9, 180, 59, 35.5),
    ("`websockets`, a queue per client", 20.5, 90.1, 125, 64, 18.8),
    ("`websockets` built-in `broadcast()`", 10.7, 31.3, 51.1, 30, 14.4),
    ("Node `ws`", 10.2, 31.8, 71.7, 28, 8.4),
)


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Plan:
    """How big and how long each phase is (full run or --quick)."""

    quick: bool
    users: int
    clients: int
    rate: float
    seconds: int
    hold_ms: int
    warmup_calls: int
    anchor_clients: int
    anchor_rate: float
    anchor_seconds: int
    idle_seconds: float = 5.0
    quiet_wait: float = 5.0


FULL = Plan(
    quick=False,
    users=100,
    clients=1000,
    rate=50,
    seconds=30,
    hold_ms=1000,
    warmup_calls=200,
    anchor_clients=1000,
    # Four events (ringing, active, bridge, hangup) reach the caller's clients per call:
    # 5 calls a second make the anchors' 20 events a second.
    anchor_rate=5,
    anchor_seconds=15,
)

QUICK = Plan(
    quick=True,
    users=20,
    clients=100,
    rate=20,
    seconds=10,
    hold_ms=1000,
    warmup_calls=40,
    anchor_clients=100,
    anchor_rate=5,
    anchor_seconds=5,
    idle_seconds=2.0,
    quiet_wait=2.0,
)


# --------------------------------------------------------------------------- the node


@dataclass(frozen=True)
class User:
    index: int
    user_id: str
    account: str
    password: str
    token: str


class Node:
    """A `callboard serve` (stock, SIP on UDP only) with N users, their devices and tokens,
    every device registered from the SIPp UAS port; the UAS answers every call."""

    def __init__(self, out: Path, ports: Ports, *, gc_log: bool = False) -> None:
        self.gc_log = gc_log
        self.out = out / "callboard"
        self.out.mkdir(parents=True, exist_ok=True)
        self.http_port = ports.take("callboard HTTP (TCP)")
        self.sip_port = ports.take("callboard SIP (UDP)")
        self.uas_port = ports.take("SIPp UAS (UDP)")
        self.uac_port = ports.take("bench UAC (UDP)")
        self.media_base = ports.take("SIPp media", span=4)
        self.data_dir = self.out / "data"
        self.server: subprocess.Popen[bytes] | None = None
        self.uas: subprocess.Popen[bytes] | None = None
        self.users: list[User] = []

    @property
    def pid(self) -> int:
        assert self.server is not None
        return self.server.pid

    @property
    def ws_url(self) -> str:
        return f"ws://{LOCALHOST}:{self.http_port}{WS_PATH}"

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return api_request(self.http_port, method, path, body, token=ADMIN_TOKEN)

    def start(self) -> None:
        env = callboard_env(self.sip_port)
        command = [str(Path(sys.executable).parent / "callboard"), "serve"]
        if self.gc_log:
            # The same serve(), plus a line on stderr for each full collection.
            command = [sys.executable, str(BENCH_DIR / "serve_callboard.py")]
            env["CALLBOARD_BENCH_GC_LOG"] = "1"
        self.server = start_callboard(
            command,
            data_dir=self.data_dir,
            http_port=self.http_port,
            sip_port=self.sip_port,
            env=env,
            folder=self.out,
            log_prefix=self.out / "server",
        )
        SAMPLER.set_role("server", self.server.pid)
        log(f"callboard serve pid {self.server.pid}: HTTP :{self.http_port}, SIP :{self.sip_port}")

    def provision(self, count: int) -> None:
        """A license for the bench users, then per user a device, the user, a token."""
        started = time.monotonic()
        license_id = self.api("POST", "/api/licenses", {"limit": count + 10})["id"]
        for index in range(count):
            account = str(FIRST_EXTENSION + index)
            password = f"pw-{account}-bench"
            user = provision_phone_user(self.http_port, license_id, account, password)
            token = self.api("POST", f"/api/users/{user['id']}/tokens", {"usage": "bench"})
            self.users.append(User(index, str(user["id"]), account, password, token["token"]))
        log(f"provisioned {count} users, devices and tokens in {time.monotonic() - started:.1f} s")

    def register(self, rate: float = 50) -> None:
        """Every device REGISTERs (digest auth) from the UAS port, one SIPp run."""
        folder = self.out / "register"
        folder.mkdir(parents=True, exist_ok=True)
        users_csv = folder / "users.csv"
        users_csv.write_text(
            "SEQUENTIAL\n"
            + "".join(
                f"{u.account};[authentication username={u.account} password={u.password}]\n"
                for u in self.users
            )
        )
        argv = [
            *sipp_base(
                "register_users.xml",
                f"{LOCALHOST}:{self.sip_port}",
                self.uas_port,
                self.media_base + 2,
            ),
            "-inf",
            str(users_csv),
            "-m",
            str(len(self.users)),
            "-r",
            f"{rate:g}",
            "-auth_uri",
            DOMAIN,
            "-key",
            "domain",
            DOMAIN,
            "-timeout",
            "60s",
            "-recv_timeout",
            "5000",
            "-trace_stat",
            "-stf",
            "stat.csv",
            "-trace_err",
            "-error_file",
            "errors.log",
            "-trace_msg",
            "-message_file",
            "messages.log",
        ]
        process = PROCS.start(argv, cwd=folder, log_prefix=folder / "sipp")
        try:
            code = process.wait(90)
        finally:
            PROCS.stop(process)
            users_csv.unlink()  # SIP passwords (of a throwaway node): not kept
        rows = read_stat_rows(folder / "stat.csv")
        ok = stat_int(rows[-1], "SuccessfulCall(C)") if rows else 0
        if code != 0 or ok != len(self.users):
            raise BenchError(
                f"REGISTER: {ok} of {len(self.users)} succeeded (SIPp exit {code}); see {folder}"
            )
        log(f"{ok} devices registered from :{self.uas_port}")

    def start_uas(self, folder: Path) -> None:
        """A fresh SIPp UAS on the UAS port, logging every message with its time."""
        self.stop_uas()
        folder.mkdir(parents=True, exist_ok=True)
        argv = sipp_uas(self.uas_port, self.media_base, max_log_size=200_000_000, messages=True)
        self.uas = PROCS.start(argv, cwd=folder, log_prefix=folder / "uas")
        wait_udp_bound(self.uas_port, self.uas, 10)
        SAMPLER.set_role("uas", self.uas.pid)

    def stop_uas(self) -> None:
        if self.uas is not None:
            PROCS.stop(self.uas)
            self.uas = None
            SAMPLER.set_role("uas", None)

    def stop(self) -> None:
        self.stop_uas()
        if self.server is not None:
            code = PROCS.stop(self.server, within=15)
            log(f"callboard serve pid {self.server.pid} stopped (exit code {code})")
            self.server = None
            SAMPLER.set_role("server", None)

    def collections(self, t0: float, t1: float) -> dict[str, Any]:
        """The garbage collections between wall-clock times t0 and t1 (--gc-log): the
        full ones (generation 2) and the slow young ones, with their pauses."""
        if not self.gc_log:
            return {}
        full: list[float] = []
        young: list[float] = []
        with contextlib.suppress(FileNotFoundError):
            for line in (self.out / "server.stderr.txt").read_text(errors="replace").splitlines():
                parts = line.split()
                if len(parts) != 5 or parts[0] != "gc":
                    continue
                with contextlib.suppress(ValueError):
                    at, ms = float(parts[1]), float(parts[3])
                    if t0 <= at <= t1:
                        (full if parts[2] == "gen2" else young).append(ms)
        return {
            "full": len(full),
            "full_max_ms": max(full) if full else None,
            "full_total_ms": round(sum(full), 1),
            "young_over_1ms": len(young),
            "young_max_ms": max(young) if young else None,
        }

    def slow_client_drops(self) -> int:
        """How many times the server said a client was too slow (its log)."""
        with contextlib.suppress(FileNotFoundError):
            return (
                (self.out / "server.stderr.txt")
                .read_text(errors="replace")
                .count("client too slow")
            )
        return 0


def memory_now(pid: int, samples: int = 5, every: float = 0.5) -> dict[str, float]:
    """Median RSS and PSS (KiB) over a few samples."""
    rss: list[int] = []
    pss: list[int] = []
    for index in range(samples):
        if index:
            time.sleep(every)
        values = smaps_rollup(pid)
        rss.append(values.get("Rss", 0))
        pss.append(values.get("Pss", 0))
    return {"rss_kib": statistics.median(rss), "pss_kib": statistics.median(pss)}


# --------------------------------------------------------------------------- the clients


class Clients:
    """One Node process holding many webitel-sdk WebSocket clients (bench/ws_clients.mjs),
    driven by JSON lines on its stdin."""

    def __init__(
        self,
        folder: Path,
        url: str,
        ws_module: Path,
        assignment: Sequence[tuple[int, str]],
        *,
        role: str = "clients",
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.frames_csv = folder / "frames.csv"
        self.assignment = list(assignment)
        config = {
            "url": url,
            "ws_module": str(ws_module),
            "clients": [[user, token] for user, token in assignment],
            "concurrency": 50,
            "frames_out": str(self.frames_csv),
        }
        config_path = folder / "clients.json"
        config_path.write_text(json.dumps(config))
        config_path.chmod(0o600)  # it holds tokens (of a throwaway local node)
        argv = ["node", str(BENCH_DIR / "ws_clients.mjs"), str(config_path)]
        (folder / "clients.cmd.txt").write_text(" ".join(argv) + "\n")
        self._stderr = (folder / "clients.stderr.txt").open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
        )
        PROCS.adopt(self.process)
        self.role = role
        self._lines: list[str] = []
        self._ready = threading.Condition()
        threading.Thread(target=self._read, name="clients-stdout", daemon=True).start()
        SAMPLER.set_role(role, self.process.pid)
        ready = self._next(30)
        config_path.unlink()  # read: the tokens need not stay on disk
        if not ready.get("ready"):
            raise BenchError(f"the client process did not start: {ready}")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self._ready:
                self._lines.append(raw.decode(errors="replace"))
                self._ready.notify_all()
        with self._ready:
            self._ready.notify_all()

    def _next(self, within: float) -> dict[str, Any]:
        deadline = time.monotonic() + within
        with self._ready:
            while not self._lines:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise BenchError(
                        f"no answer from the client process (exit {self.process.poll()}); "
                        f"see {self.folder}/clients.stderr.txt"
                    )
                self._ready.wait(min(left, 0.5))
            line = self._lines.pop(0)
        value: dict[str, Any] = json.loads(line)
        return value

    def command(self, cmd: str, within: float = 120) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps({"cmd": cmd}) + "\n").encode())
        self.process.stdin.flush()
        answer = self._next(within)
        if "error" in answer:
            raise BenchError(f"client process, {cmd}: {answer['error']}")
        return answer

    def close(self) -> None:
        with contextlib.suppress(BenchError, OSError, ValueError):
            self.command("close", within=10)
        PROCS.stop(self.process, within=10)
        self._stderr.close()
        SAMPLER.set_role(self.role, None)


def ensure_ws(work_dir: Path) -> Path:
    """Node's `ws` (pinned), installed with npm into the work folder (never the repo)."""
    prefix = work_dir / f"ws-{WS_VERSION}"
    module = prefix / "node_modules" / "ws"
    if (module / "package.json").exists():
        return module
    log(f"installing ws@{WS_VERSION} into {prefix} (npm)")
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--loglevel",
            "error",
            f"ws@{WS_VERSION}",
        ],
        check=True,
        timeout=300,
    )
    if not (module / "package.json").exists():
        raise BenchError(f"npm installed ws but {module} is missing")
    return module


def node_version() -> str:
    return subprocess.run(
        ["node", "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.strip()


# --------------------------------------------------------------------------- one load run


@dataclass
class LoadRun:
    """A call load (with or without clients) and what it measured."""

    label: str
    clients: int
    rate: float
    seconds: float
    calls: int
    folder: str
    uac_summary: dict[str, Any] = field(default_factory=dict)
    calls_ok: int = 0
    calls_failed: dict[str, int] = field(default_factory=dict)
    setup_ms: dict[str, float | None] = field(default_factory=dict)
    auth_setup_ms: dict[str, float | None] = field(default_factory=dict)
    cpu: dict[str, Any] = field(default_factory=dict)
    other_before: float | None = None
    wall_s: float = 0.0
    # with clients
    connect: dict[str, Any] = field(default_factory=dict)
    delivery: dict[str, Any] = field(default_factory=dict)
    latency_ms: dict[str, dict[str, float | None]] = field(default_factory=dict)
    server_ts_latency_ms: dict[str, float | None] = field(default_factory=dict)
    frames: int = 0
    frames_per_s: float = 0.0
    events: int = 0
    events_per_s: float = 0.0
    frame_bytes_mean: float | None = None
    unmatched_frames: int = 0
    slow_client_drops: int = 0
    uas_failed: int = 0
    gc: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)


def write_pairs(path: Path, pairs: Sequence[tuple[User, User]]) -> None:
    path.write_text("".join(f"{a.account};{a.password};{b.account}\n" for a, b in pairs))


def run_load(
    node: Node,
    plan: Plan,
    *,
    label: str,
    pairs: Sequence[tuple[User, User]],
    rate: float,
    seconds: float,
    clients: Clients | None,
    out: Path,
    py_spy: Path | None = None,
) -> LoadRun:
    """One steady call load: a fresh UAS, the UAC at `rate` for `seconds`, then the
    clients' frames checked and tied to the SIP messages that caused them."""
    folder = out / f"load-{label}"
    folder.mkdir(parents=True, exist_ok=True)
    calls = int(rate * seconds)
    run = LoadRun(
        label, len(clients.assignment) if clients else 0, rate, seconds, calls, str(folder)
    )
    node.start_uas(folder / "uas")
    drops_before = node.slow_client_drops()
    pairs_file = folder / "pairs.txt"
    write_pairs(pairs_file, pairs)
    calls_file = folder / "calls.jsonl"
    if clients is not None:
        clients.command("record")
    run.other_before = wait_quiet(plan.quiet_wait)
    argv = [
        sys.executable,
        str(BENCH_DIR / "sip_load.py"),
        "--server",
        f"{LOCALHOST}:{node.sip_port}",
        "--port",
        str(node.uac_port),
        "--domain",
        DOMAIN,
        "--pairs",
        str(pairs_file),
        "--rate",
        f"{rate:g}",
        "--calls",
        str(calls),
        "--hold-ms",
        str(plan.hold_ms),
        "--out",
        str(calls_file),
    ]
    log(f"load {label}: {calls} calls at {rate:g} cps, {run.clients} clients")
    wall_t0 = time.time()
    t0 = time.monotonic()
    uac = PROCS.start(argv, cwd=folder, log_prefix=folder / "uac")
    SAMPLER.set_role("uac", uac.pid)
    spy = start_py_spy(py_spy, node.pid, int(seconds), folder) if py_spy is not None else None
    try:
        uac.wait(seconds + plan.hold_ms / 1000 + 60)
    except subprocess.TimeoutExpired:
        log(f"load {label}: the UAC outlived its time and was stopped")
    finally:
        t1 = time.monotonic()
        PROCS.stop(uac)
        SAMPLER.set_role("uac", None)
        pairs_file.unlink()  # SIP passwords (of a throwaway node): not kept
    run.wall_s = round(t1 - t0, 2)
    run.cpu = SAMPLER.stats(t0, t1)
    run.gc = node.collections(wall_t0, wall_t0 + (t1 - t0))
    if spy is not None:
        profile = py_spy_profile(spy, folder)
        if profile is not None:
            run.profile = profile
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, IndexError):
        lines = (folder / "uac.stdout.txt").read_text().strip().splitlines()
        run.uac_summary = json.loads(lines[-1])
    time.sleep(1.0)  # the last events are on their way
    if clients is not None:
        run.delivery = clients.command("final", within=180)
    node.stop_uas()  # SIGTERM: SIPp flushes its message log
    rows = read_stat_rows(folder / "uas" / "uas_stat.csv")
    run.uas_failed = stat_int(rows[-1], "FailedCall(C)") if rows else 0
    run.slow_client_drops = node.slow_client_drops() - drops_before
    analyze(run, folder, clients)
    log(summary_line(run))
    (folder / "result.json").write_text(json.dumps(asdict(run), indent=2, default=str))
    return run


# --------------------------------------------------------------------------- analysis


def _summary_ms(values: list[float]) -> dict[str, float | None]:
    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "n": float(len(values)),
        "p50": r(percentile(values, 50)),
        "p90": r(percentile(values, 90)),
        "p99": r(percentile(values, 99)),
        "p99.9": r(percentile(values, 99.9)),
        "max": r(max(values) if values else None),
        "mean": r(statistics.fmean(values) if values else None),
    }


class _Groups:
    """Union-find over leg ids and SIP Call-IDs: one group per call."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        parent = self.parent
        if item not in parent:
            parent[item] = item
            return item
        root = item
        while parent[root] != root:
            root = parent[root]
        while parent[item] != root:
            parent[item], item = root, parent[item]
        return root

    def known(self, item: str) -> bool:
        return item in self.parent

    def join(self, a: str, b: str) -> None:
        if a and b:
            self.parent[self.find(a)] = self.find(b)


def analyze(run: LoadRun, folder: Path, clients: Clients | None) -> None:
    """Setup times from the UAC's records; with clients, every frame's latency."""
    uac: dict[str, dict[str, Any]] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in (folder / "calls.jsonl").read_text().splitlines():
            record = json.loads(line)
            uac[record["call_id"]] = record
    setups = [1000 * (r["answered"] - r["invite"]) for r in uac.values() if "answered" in r]
    auth_setups = [
        1000 * (r["answered"] - r["auth_invite"])
        for r in uac.values()
        if "answered" in r and "auth_invite" in r
    ]
    run.setup_ms = _summary_ms(setups)
    run.auth_setup_ms = _summary_ms(auth_setups)
    run.calls_ok = sum(1 for r in uac.values() if r["status"] == "ok")
    failed: dict[str, int] = {}
    for r in uac.values():
        if r["status"] != "ok":
            failed[r["status"]] = failed.get(r["status"], 0) + 1
    missing = run.calls - len(uac)
    if missing > 0:
        failed["no record (not placed)"] = missing
    run.calls_failed = failed
    if clients is None or not clients.frames_csv.exists():
        return

    # The UAS: which leg each B-side INVITE was for, and when its 200 left.
    ok_sent: dict[str, float] = {}
    groups = _Groups()
    log_file = folder / "uas" / "uas_messages.log"
    if log_file.exists():
        for message in trace_messages(log_file):
            if not message.sent and message.is_request("INVITE"):
                groups.join(message.headers.get("x-webitel-uuid", ""), message.call_id)
            elif message.sent and message.is_response(200, "INVITE"):
                ok_sent.setdefault(message.call_id, message.at)
    frames: list[dict[str, str]] = []
    with clients.frames_csv.open() as handle:
        frames = list(csv.DictReader(handle))
    for frame in frames:
        if frame["event"] == "ringing":
            groups.join(frame["leg"], frame["sip_id"])
            groups.join(frame["leg"], frame["parent_id"])
        elif frame["event"] == "bridge":
            groups.join(frame["leg"], frame["bridged_id"])
    # Per call group: the UAC's A-side call and the UAS's B-side call.
    a_side: dict[str, dict[str, Any]] = {}
    for call_id, record in uac.items():
        if groups.known(call_id):
            a_side[groups.find(call_id)] = record
    b_ok: dict[str, float] = {}
    for call_id, at in ok_sent.items():
        if groups.known(call_id):
            b_ok[groups.find(call_id)] = at
    by_event: dict[str, list[float]] = {}
    overall: list[float] = []
    server_ts: list[float] = []
    unmatched = 0
    sizes: list[int] = []
    user_of = [user for user, _ in clients.assignment]
    events: set[tuple[int, int]] = set()
    first_t = last_t = None
    for frame in frames:
        t = float(frame["t_ms"]) / 1000
        first_t = t if first_t is None else min(first_t, t)
        last_t = t if last_t is None else max(last_t, t)
        sizes.append(int(frame["size"]))
        events.add((user_of[int(frame["client"])], int(frame["seq"])))
        with contextlib.suppress(ValueError):
            server_ts.append(1000 * t - float(frame["ts"]))
        group = groups.find(frame["leg"])
        name = frame["event"]
        cause: float | None = None
        if name == "ringing":
            record = a_side.get(group)
            if record is not None:
                cause = record.get("auth_invite", record.get("invite"))
        elif name in ("active", "bridge"):
            cause = b_ok.get(group)
        elif name == "hangup":
            record = a_side.get(group)
            if record is not None:
                cause = record.get("bye")
        if cause is None:
            unmatched += 1
            continue
        latency = 1000 * (t - cause)
        by_event.setdefault(name, []).append(latency)
        overall.append(latency)
    run.latency_ms = {"all": _summary_ms(overall)}
    for name in ("ringing", "active", "bridge", "hangup"):
        if name in by_event:
            run.latency_ms[name] = _summary_ms(by_event[name])
    run.server_ts_latency_ms = _summary_ms(server_ts)
    run.unmatched_frames = unmatched
    run.frames = len(frames)
    run.events = len(events)
    run.frame_bytes_mean = round(statistics.fmean(sizes), 1) if sizes else None
    if first_t is not None and last_t is not None and last_t > first_t:
        span = last_t - first_t
        run.frames_per_s = round(len(frames) / span, 1)
        run.events_per_s = round(len(events) / span, 1)


def summary_line(run: LoadRun) -> str:
    server = run.cpu.get("server", {})
    text = (
        f"load {run.label}: {run.calls_ok}/{run.calls} calls ok, setup p50 "
        f"{run.setup_ms.get('p50')} p99 {run.setup_ms.get('p99')} ms, server CPU "
        f"{server.get('avg')}%"
    )
    if run.clients:
        lat = run.latency_ms.get("all", {})
        text += (
            f"; {run.frames} frames ({run.frames_per_s}/s), event latency p50 {lat.get('p50')} "
            f"p99 {lat.get('p99')} max {lat.get('max')} ms, lost {run.delivery.get('lost')}, "
            f"unmatched {run.unmatched_frames}, clients CPU {_cpu(run, 'clients')}%"
        )
    return text


# --------------------------------------------------------------------------- phases


@dataclass
class Results:
    versions: dict[str, str] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    loads: list[LoadRun] = field(default_factory=list)
    anchor: LoadRun | None = None
    anchor_memory: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def call_pairs(users: Sequence[User]) -> list[tuple[User, User]]:
    """User k calls user k + N/2: everyone is a caller and a callee equally often."""
    half = max(1, len(users) // 2)
    return [(u, users[(u.index + half) % len(users)]) for u in users]


def spread(users: Sequence[User], count: int) -> list[tuple[int, str]]:
    """Client i belongs to user i mod N (several tabs per user)."""
    return [(users[i % len(users)].index, users[i % len(users)].token) for i in range(count)]


def warm_up(node: Node, plan: Plan, out: Path, ws_module: Path) -> None:
    """Load every code path once (calls, a few sockets) before anything is measured."""
    folder = out / "warmup"
    clients = Clients(folder / "clients", node.ws_url, ws_module, spread(node.users, 20))
    try:
        clients.command("connect")
        run_load(
            node,
            plan,
            label="warmup",
            pairs=call_pairs(node.users),
            rate=plan.rate,
            seconds=plan.warmup_calls / plan.rate,
            clients=clients,
            out=folder,
        )
    finally:
        clients.close()


def measure_memory(
    node: Node, plan: Plan, clients: Clients, count: int, results: dict[str, Any]
) -> None:
    """Server RSS/PSS with 0 clients, then with `count` idle subscribed clients."""
    time.sleep(1.0)
    base = memory_now(node.pid)
    connect = clients.command("connect", within=300)
    errors = "; ".join(connect["errors"])
    log(
        f"{connect['connected']} clients connected in {connect['ms']} ms "
        f"({connect['failed']} failed{': ' + errors if errors else ''}); "
        f"clock skew {connect['clock_skew_ms']} ms"
    )
    time.sleep(plan.idle_seconds)
    loaded = memory_now(node.pid)
    connected = connect["connected"] or 1
    results.update(
        {
            "clients": count,
            "connected": connect["connected"],
            "connect": connect,
            "rss_base_kib": base["rss_kib"],
            "pss_base_kib": base["pss_kib"],
            "rss_clients_kib": loaded["rss_kib"],
            "pss_clients_kib": loaded["pss_kib"],
            "rss_per_client_kib": round((loaded["rss_kib"] - base["rss_kib"]) / connected, 2),
            "pss_per_client_kib": round((loaded["pss_kib"] - base["pss_kib"]) / connected, 2),
        }
    )
    log(
        f"memory: RSS {base['rss_kib']} -> {loaded['rss_kib']} KiB with {connect['connected']} "
        f"clients: {results['rss_per_client_kib']} KiB RSS, {results['pss_per_client_kib']} "
        "KiB PSS per client"
    )


def run_phases(
    node: Node,
    plan: Plan,
    phases: set[str],
    out: Path,
    ws_module: Path,
    results: Results,
    py_spy: Path | None,
) -> None:
    node.start()
    node.provision(plan.users)
    node.register()
    warm_up(node, plan, out, ws_module)
    pairs = call_pairs(node.users)
    if "load" in phases:
        clients = Clients(
            out / "load-clients", node.ws_url, ws_module, spread(node.users, plan.clients)
        )
        try:
            measure_memory(node, plan, clients, plan.clients, results.memory)
            run = run_load(
                node,
                plan,
                label=f"{plan.clients}-clients",
                pairs=pairs,
                rate=plan.rate,
                seconds=plan.seconds,
                clients=clients,
                out=out,
                py_spy=py_spy,
            )
            run.connect = results.memory.get("connect", {})
            results.loads.append(run)
        finally:
            clients.close()
        time.sleep(2.0)
        results.loads.append(
            run_load(
                node,
                plan,
                label="0-clients",
                pairs=pairs,
                rate=plan.rate,
                seconds=plan.seconds,
                clients=None,
                out=out,
            )
        )
    if "anchor" in phases:
        caller, callee = node.users[0], node.users[1]
        clients = Clients(
            out / "anchor-clients",
            node.ws_url,
            ws_module,
            [(caller.index, caller.token)] * plan.anchor_clients,
        )
        try:
            measure_memory(node, plan, clients, plan.anchor_clients, results.anchor_memory)
            run = run_load(
                node,
                plan,
                label=f"anchor-{plan.anchor_clients}-clients-one-user",
                pairs=[(caller, callee)],
                rate=plan.anchor_rate,
                seconds=plan.anchor_seconds,
                clients=clients,
                out=out,
                py_spy=py_spy,
            )
            run.connect = results.anchor_memory.get("connect", {})
            results.anchor = run
        finally:
            clients.close()


# --------------------------------------------------------------------------- report


def _lat(run: LoadRun | None, key: str, event: str = "all") -> Any:
    if run is None:
        return None
    return run.latency_ms.get(event, {}).get(key)


def _cpu(run: LoadRun | None, role: str) -> Any:
    if run is None:
        return None
    return run.cpu.get(role, {}).get("avg")


def _load(results: Results, clients: bool) -> LoadRun | None:
    return next((r for r in results.loads if (r.clients > 0) == clients), None)


def summary_table(results: Results, plan: Plan) -> list[str]:
    loaded, alone = _load(results, True), _load(results, False)
    mem = results.memory
    rows: list[tuple[str, Any, Any]] = [
        ("Connected, subscribed clients", loaded.clients if loaded else None, 0),
        ("Calls ok / placed", _ok(loaded), _ok(alone)),
        ("Call events published per second (distinct user, seq)", _v(loaded, "events_per_s"), "-"),
        ("`call` frames delivered per second", _v(loaded, "frames_per_s"), "-"),
        ("Event latency p50 (ms, SIP message sent -> frame)", _lat(loaded, "p50"), "-"),
        ("Event latency p99 (ms)", _lat(loaded, "p99"), "-"),
        ("Event latency max (ms)", _lat(loaded, "max"), "-"),
        (
            "Server event timestamp -> frame, p50 / p99 (ms, whole-ms stamps)",
            _pair(loaded.server_ts_latency_ms if loaded else None),
            "-",
        ),
        ("Lost events / duplicates / out of order", _losses(loaded), "-"),
        ("Slow clients dropped by the server", _v(loaded, "slow_client_drops"), "-"),
        (
            "Client clock - wall clock at connect / at the end (ms; ~0 expected)",
            _skews(loaded),
            "-",
        ),
        (
            "Call setup p50 (ms, first INVITE -> 200, incl. the 407)",
            _s(loaded, "p50"),
            _s(alone, "p50"),
        ),
        ("Call setup p99 (ms)", _s(loaded, "p99"), _s(alone, "p99")),
        ("Call setup max (ms)", _s(loaded, "max"), _s(alone, "max")),
        ("Server CPU (% of one core)", _cpu(loaded, "server"), _cpu(alone, "server")),
        ("Full GC pauses in the run: count / longest ms (--gc-log)", _gc(loaded), _gc(alone)),
        ("Client process CPU (Node, % of one core)", _cpu(loaded, "clients"), "-"),
        ("UAC / UAS CPU (%)", _pair2(loaded), _pair2(alone)),
        ("Other processes on the machine (%)", _v(loaded, "cpu.other"), _v(alone, "cpu.other")),
        ("Memory per idle subscribed client, RSS (KiB)", mem.get("rss_per_client_kib"), "-"),
        ("Memory per idle subscribed client, PSS (KiB)", mem.get("pss_per_client_kib"), "-"),
    ]
    lines = [
        f"| figure | {plan.clients} clients | no client (the engine alone) |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {fmt(a, 2)} | {fmt(b, 2)} |" for name, a, b in rows]
    return lines


def _v(run: LoadRun | None, path: str) -> Any:
    if run is None:
        return None
    value: Any = run
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
    return value


def _ok(run: LoadRun | None) -> str | None:
    return None if run is None else f"{run.calls_ok} / {run.calls}"


def _s(run: LoadRun | None, key: str) -> Any:
    return None if run is None else run.setup_ms.get(key)


def _pair(values: dict[str, float | None] | None) -> str | None:
    if not values:
        return None
    return f"{fmt(values.get('p50'), 2)} / {fmt(values.get('p99'), 2)}"


def _pair2(run: LoadRun | None) -> str | None:
    if run is None:
        return None
    return f"{fmt(_cpu(run, 'uac'))} / {fmt(_cpu(run, 'uas'))}"


def _gc(run: LoadRun | None) -> str | None:
    if run is None or not run.gc:
        return None
    return f"{run.gc.get('full')} / {fmt(run.gc.get('full_max_ms'), 1)}"


def _skews(run: LoadRun | None) -> str | None:
    if run is None or not run.delivery:
        return None
    return (
        f"{fmt(run.connect.get('clock_skew_ms'), 3)} / {fmt(run.delivery.get('clock_skew_ms'), 3)}"
    )


def _losses(run: LoadRun | None) -> str | None:
    if run is None or not run.delivery:
        return None
    d = run.delivery
    return f"{d.get('lost')} / {d.get('duplicates')} / {d.get('out_of_order')}"


def engine_verdict(results: Results) -> str:
    loaded, alone = _load(results, True), _load(results, False)
    if loaded is None or alone is None:
        return "not measured"
    a50, b50 = loaded.setup_ms.get("p50"), alone.setup_ms.get("p50")
    a99, b99 = loaded.setup_ms.get("p99"), alone.setup_ms.get("p99")
    if None in (a50, b50, a99, b99):
        return "not measured"
    assert a50 is not None and b50 is not None and a99 is not None and b99 is not None
    text = (
        f"setup p50 {a50:.2f} vs {b50:.2f} ms ({ratio(a50, b50)}x), p99 {a99:.2f} vs "
        f"{b99:.2f} ms ({ratio(a99, b99)}x) with / without the clients"
    )
    # A few ms of p99 on a shared 2-CPU machine is noise; beyond 2x and 5 ms it is not.
    slowed = a99 > 2 * b99 and a99 - b99 > 5
    return ("**the engine slowed down**: " if slowed else "no degradation beyond noise: ") + text


def anchor_table(results: Results) -> list[str]:
    run = results.anchor
    # The figure from clients connected before any call load (after it, the clients
    # reuse the arenas the calls freed: see measure_memory).
    mem = results.memory or results.anchor_memory
    if run is None:
        return []
    ours = (
        _lat(run, "p50"),
        _lat(run, "p99"),
        _lat(run, "max"),
        _cpu(run, "server"),
        mem.get("rss_per_client_kib"),
    )
    lines = [
        f"| {run.clients} clients, 20 events/s | p50 / p99 / max latency (ms) | server CPU % | "
        "KiB per idle client | Callboard / it: p50, p99, CPU, memory |",
        "|---|---|---|---|---|",
        f"| **Callboard** (real call events, SIP message -> frame) | {fmt(ours[0], 2)} / "
        f"{fmt(ours[1], 2)} / {fmt(ours[2], 2)} | {fmt(ours[3])} | {fmt(ours[4], 2)} | |",
    ]
    for name, p50, p99, peak, cpu, kib in ANCHORS:
        lines.append(
            f"| {name} | {p50:g} / {p99:g} / {peak:g} | {cpu:g} | {fmt(kib)} | "
            f"{ratio(ours[0], p50)}, {ratio(ours[1], p99)}, {ratio(ours[3], cpu)}, "
            f"{ratio(ours[4], kib)} |"
        )
    return lines


def load_table(runs: Sequence[LoadRun]) -> list[str]:
    lines = [
        "| run | clients | calls ok | setup p50 / p99 / max ms | event latency p50 / p99 / "
        "p99.9 / max ms | frames/s | events/s | lost | unmatched | server / clients / UAC / "
        "UAS CPU % | other % | machine busy % | full GCs (longest ms) |",
        "|" + "---|" * 13,
    ]
    for r in runs:
        lat = r.latency_ms.get("all", {})
        lines.append(
            f"| {r.label} | {r.clients} | {r.calls_ok}/{r.calls} | {fmt(r.setup_ms.get('p50'), 2)}"
            f" / {fmt(r.setup_ms.get('p99'), 2)} / {fmt(r.setup_ms.get('max'), 2)} | "
            + (
                f"{fmt(lat.get('p50'), 2)} / {fmt(lat.get('p99'), 2)} / "
                f"{fmt(lat.get('p99.9'), 2)} / {fmt(lat.get('max'), 2)}"
                if r.clients
                else "-"
            )
            + f" | {fmt(r.frames_per_s)} | {fmt(r.events_per_s)} | "
            f"{r.delivery.get('lost', '-') if r.clients else '-'} | "
            f"{r.unmatched_frames if r.clients else '-'} | {fmt(_cpu(r, 'server'))} / "
            f"{fmt(_cpu(r, 'clients'))} / {fmt(_cpu(r, 'uac'))} / {fmt(_cpu(r, 'uas'))} | "
            f"{fmt(r.cpu.get('other'))} | {fmt(r.cpu.get('machine_busy'))} | "
            + (f"{r.gc.get('full')} ({fmt(r.gc.get('full_max_ms'))})" if r.gc else "-")
            + " |"
        )
    return lines


def per_event_table(run: LoadRun) -> list[str]:
    lines = [
        "| event | caused by | frames | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    causes = {
        "ringing": "the authenticated INVITE (UAC)",
        "active": "the callee's 200 (UAS)",
        "bridge": "the callee's 200 (UAS)",
        "hangup": "the BYE (UAC)",
    }
    for name, cause in causes.items():
        s = run.latency_ms.get(name)
        if not s:
            continue
        lines.append(
            f"| {name} | {cause} | {fmt(s.get('n'))} | {fmt(s.get('p50'), 2)} | "
            f"{fmt(s.get('p90'), 2)} | {fmt(s.get('p99'), 2)} | {fmt(s.get('max'), 2)} |"
        )
    return lines


QUICK_NOTE = "QUICK (smoke run: few clients, short runs; not figures to quote)"


def write_report(
    out: Path, meta: dict[str, Any], results: Results, plan: Plan, *, events_md: Path | None
) -> None:
    data = {"meta": meta, "plan": asdict(plan), "results": asdict(results)}
    (out / "results.json").write_text(json.dumps(data, indent=2, default=str))
    machine = meta["machine"]
    loaded = _load(results, True)
    lines = [
        f"# Event latency benchmark: Callboard's webitel-sdk WebSocket ({meta['started']})",
        "",
        f"Mode: {QUICK_NOTE if plan.quick else 'full'}. Command: `{meta['command']}`. "
        f"Wall time {meta.get('wall_s')} s."
        + (f" **Stopped early: {meta['aborted']}**" if meta.get("aborted") else "")
        + (f" **Error: {results.error}**" if results.error else ""),
        "",
        f"{plan.users} users; {plan.clients} clients (user i mod {plan.users}); calls from "
        f"user k to user k + {plan.users // 2} at {plan.rate:g} cps for {plan.seconds} s, "
        f"each held {plan.hold_ms} ms, digest auth on every INVITE.",
        "",
        "## Summary",
        "",
        *summary_table(results, plan),
        "",
        f"Engine with vs without the clients: {engine_verdict(results)}.",
        "",
    ]
    if loaded is not None and loaded.latency_ms:
        lines += ["### Event latency by event", "", *per_event_table(loaded), ""]
    if results.anchor is not None:
        a = results.anchor
        lines += [
            "## Side by side with the fan-out anchors (performance.md)",
            "",
            f"The anchors' method: N clients on 127.0.0.1, every client gets every event, 20 "
            f"events/s for 15 s, clients in one Node `ws` process. Here: {a.clients} clients "
            f"of ONE user (tabs), whose calls ({a.rate:g} cps, 4 events each) make "
            f"{fmt(a.events_per_s)} events/s, each delivered to every client "
            f"({fmt(a.frames_per_s)} frames/s, {fmt(a.frame_bytes_mean)} bytes on average; "
            "the anchors' event was ~333 bytes). The latency here starts earlier than the "
            "anchors' (at the SIP message, not at the server's send), so the ratios are "
            "conservative. Lost events: "
            f"{a.delivery.get('lost')}. Memory per idle client: the figure measured before "
            "any call load (with these clients, connected after the load runs, "
            f"{fmt(results.anchor_memory.get('rss_per_client_kib'), 2)} KiB: they reuse "
            "memory the calls freed).",
            "",
            *anchor_table(results),
            "",
            "Ratios are Callboard / the anchor: below 1 is better.",
            "",
        ]
    lines += [
        "## Runs",
        "",
        *load_table([*results.loads, *([results.anchor] if results.anchor else [])]),
        "",
    ]
    if results.memory:
        m = results.memory
        lines += [
            "## Memory",
            "",
            f"Server RSS {fmt(m.get('rss_base_kib'))} KiB with no client, "
            f"{fmt(m.get('rss_clients_kib'))} KiB with {m.get('connected')} idle subscribed "
            f"clients ({plan.idle_seconds:g} s after the last connected): "
            f"**{fmt(m.get('rss_per_client_kib'), 2)} KiB RSS, "
            f"{fmt(m.get('pss_per_client_kib'), 2)} KiB PSS per client**. Median of 5 samples "
            "of /proc/<pid>/smaps_rollup each; after a warm-up (calls and 20 sockets).",
            "",
        ]
    for run in [*results.loads, *([results.anchor] if results.anchor else [])]:
        if run.profile.get("self"):
            prof = run.profile
            lines += [
                f"## Profile of the server during `{run.label}` (py-spy, event-loop thread, "
                f"{prof.get('idle_pct')}% idle)",
                "",
                "| self % | function |",
                "|---|---|",
                *[f"| {pct} | `{name}` |" for pct, name in prof["self"][:20]],
                "",
                "| inclusive % | function |",
                "|---|---|",
                *[f"| {pct} | `{name}` |" for pct, name in prof["inclusive"][:25]],
                "",
            ]
    lines += [
        "## Machine and versions",
        "",
        f"- {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['mem_gib']} GiB, kernel "
        f"{machine['kernel']}, {machine['os']}; load average {meta['load_start']} at the start, "
        f"{meta.get('load_end')} at the end. Shared machine: see 'other' CPU.",
        "- " + ", ".join(f"{k} {v}" for k, v in results.versions.items()) + ".",
        f"- SIPp {meta['sipp']} (registration and UAS); Node {meta['node']} with ws "
        f"{WS_VERSION} (clients); the UAC is bench/sip_load.py.",
        f"- Ports: {meta.get('ports')}",
        "",
        "## Method",
        "",
        "Times are the host's wall clock: the UAC's time.time() right after each message left "
        "its socket, SIPp's gettimeofday() right after each sent message (-trace_msg), the "
        "clients' performance.timeOrigin + performance.now() on each frame (µs; its skew from "
        "Date.now() is checked and logged). CPU: /proc/<pid>/stat every 0.5 s, % of one core, "
        "over the whole UAC run; 'other' is every process this script did not start. "
        "Percentiles are nearest-rank over every frame (each client's copy counts).",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    if events_md is not None:
        body = "\n".join(lines)
        body = body.replace(
            lines[0],
            "# Event latency results (bench/events.py)\n\nLast full run: "
            f"{meta['started']}, full report `bench/results/{out.name}/report.md` (not "
            "committed).",
            1,
        )
        with contextlib.suppress(FileNotFoundError):
            _, marker, notes = events_md.read_text().partition(NOTES_MARKER)
            if marker:
                body += "\n" + marker + notes
        events_md.write_text(body)


NOTES_MARKER = "<!-- notes: everything below is kept when bench/events.py rewrites this file -->"


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Event latency: SIP state change -> webitel-sdk WebSocket frame, with "
        "many subscribed clients during a call load (see bench/README.md)."
    )
    parser.add_argument("--quick", action="store_true", help="smoke run (~1.5 min)")
    parser.add_argument("--phases", default="load,anchor", help="comma list: load, anchor")
    parser.add_argument("--users", type=int, help="users (default 100, quick 20)")
    parser.add_argument("--clients", type=int, help="clients (default 1000, quick 100)")
    parser.add_argument("--rate", type=float, help="calls per second (default 50, quick 20)")
    parser.add_argument("--seconds", type=int, help="length of each load run (default 30)")
    parser.add_argument("--anchor-clients", type=int, help="clients of the anchor run")
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "callboard-bench",
        help="where Node's ws (and py-spy) are installed",
    )
    parser.add_argument("--port-base", type=int, default=26060)
    parser.add_argument("--time-limit", type=int, help="hard limit in s (default 900, quick 300)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the server during the loaded and the anchor runs",
    )
    parser.add_argument("--py-spy", type=Path, help="py-spy binary (default: a venv in work-dir)")
    parser.add_argument(
        "--gc-log",
        action="store_true",
        help="start the server through bench/serve_callboard.py (the same serve()) with its "
        "garbage collections logged, and report the full collections' pauses per run",
    )
    parser.add_argument(
        "--write-events-md",
        choices=("auto", "yes", "no"),
        default="auto",
        help="write bench/EVENTS.md (auto: full runs with the default sizes)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    overrides = {
        "users": args.users,
        "clients": args.clients,
        "rate": args.rate,
        "seconds": args.seconds,
        "anchor_clients": args.anchor_clients,
    }
    changed = {k: v for k, v in overrides.items() if v is not None}
    plan = dataclasses.replace(plan, **changed)
    if plan.users < 2:
        raise SystemExit("--users: at least 2")
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if phases - {"load", "anchor"}:
        raise SystemExit(f"unknown phases: {sorted(phases - {'load', 'anchor'})}")
    limit = min(args.time_limit or (300 if plan.quick else 900), 1500)
    started = dt.datetime.now(dt.UTC)
    out = args.out or BENCH_DIR / "results" / ("events-" + started.strftime("%Y%m%d-%H%M%S"))
    open_results(out)
    t_start = time.monotonic()
    arm_time_limit(limit)
    meta = run_meta("bench/events.py", argv, started, limit, node=node_version())
    events_md: Path | None = None
    if args.write_events_md == "yes" or (
        args.write_events_md == "auto"
        and not plan.quick
        and not changed
        and phases == {"load", "anchor"}
        and not args.profile
    ):
        events_md = BENCH_DIR / "EVENTS.md"
    log(f"results in {out}; hard time limit {limit} s; plan {asdict(plan)}")
    SAMPLER.start()
    results = Results()
    exit_code = 0
    node: Node | None = None
    try:
        ws_module = ensure_ws(args.work_dir)
        py_spy = py_spy_binary(args.py_spy, args.work_dir) if args.profile else None
        results.versions = callboard_versions(
            "asyncio (bench/serve_callboard.py with CALLBOARD_BENCH_GC_LOG)"
            if args.gc_log
            else "asyncio (stock `callboard serve`)"
        )
        ports = Ports(args.port_base)
        node = Node(out, ports, gc_log=args.gc_log)
        meta["ports"] = ", ".join(f"{k} {v}" for k, v in ports.given.items())
        run_phases(node, plan, phases, out, ws_module, results, py_spy)
    except (BenchTimeout, Interrupted) as stop:
        meta["aborted"] = str(stop)
        log(f"stopping: {stop}")
        exit_code = 2
    except BenchError as error:
        results.error = str(error)
        log(f"ERROR {error}")
        exit_code = 1
    except Exception as error:  # a bug or an HTTP error: report it
        results.error = f"{type(error).__name__}: {error}"
        log(f"ERROR {results.error}\n{traceback.format_exc()}")
        exit_code = 1
    finally:
        finish_run(meta, t_start, stop=node.stop if node is not None else None)
        if exit_code:
            events_md = None
        write_report(out, meta, results, plan, events_md=events_md)
        log(f"report: {out / 'report.md'}" + (f"; summary: {events_md}" if events_md else ""))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
