#!/usr/bin/env python3
"""SIP call benchmark: Callboard's B2BUA against Sippy's `b2bua_simple`, side by side.

A benchmark, not a test (issue 3): SIPp drives calls through each server between two
SIPp agents on 127.0.0.1 and this script reports, for each system, measured the way
../shared/reference/performance.md measured Sippy and Kamailio on this kind of machine:

(a) the highest sustained call rate under the strict criterion (>= 99% of calls succeed
    at the UAC, no failed B-leg at the UAS, achieved setup rate >= 95% of the target, p95
    setup <= 200 ms), found by a ladder of 10 s steps, a bisection, and a 20 s confirm;
(b) setup latency (median, p99) at 80% of that rate, plus an unloaded microsecond probe;
(c) memory per concurrent call with 2,000 calls held 60 s (RSS and PSS of the server
    process from /proc/<pid>/smaps_rollup, fresh process, after a warm-up);

with the CPU of the server and of both SIPp processes, the CPU of every other process on
the machine (it is shared), the machine, the versions, and Callboard/Sippy ratios.

Callboard runs as it ships (`callboard serve`), with authentication on: both agents
REGISTER with digest auth first, and every call's INVITE is challenged (407) and sent
again with credentials (scenarios/uac_auth.xml). Sippy gets the anchors' scenarios
(uac_txn.xml, no auth: b2bua_simple has none). Both use the same UAS (uas_lc.xml).

Output: bench/results/<UTC timestamp>/report.md and results.json, one folder per SIPp
run (command, stat.csv, rtt.csv, result.json), and the server logs; a full run also
writes the summary to bench/RESULTS.md. See bench/README.md.

Everything is bounded: a hard overall timeout (--time-limit, <= 25 min), a -timeout on
every SIPp, ports checked free first, only 127.0.0.1, and every process this script
started is stopped at the end (by its pid), also on a timeout, an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    ADMIN_TOKEN,
    BENCH_DIR,
    DOMAIN,
    LOCALHOST,
    PROCS,
    QUIET_OTHER_PCT,
    SAMPLER,
    SIPP_BUFFER,
    BenchError,
    BenchTimeout,
    Interrupted,
    Ports,
    arm_time_limit,
    callboard_env,
    callboard_versions,
    ensure_venv,
    finish_run,
    log,
    open_results,
    provision_phone_user,
    py_spy_binary,
    py_spy_profile,
    read_rtt,
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
from harness import api_request as _api_request
from harness import fmt as _fmt
from harness import ratio as _ratio
from harness import summary as _summary

CALLER = ("1001", "pw-1001-bench")
CALLEE = ("1002", "pw-1002-bench")

# The strict criterion (performance.md, `ok()` in its bench.py).
MIN_SUCCESS_PCT = 99.0
MIN_ACHIEVED = 0.95
MAX_P95_MS = 200.0
# Climbing stops at the first step this bad (performance.md).
STOP_SUCCESS_PCT = 99.0
STOP_ACHIEVED = 0.90
STOP_P95_MS = 2000.0


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Plan:
    """How long and how far each phase goes (full run or --quick)."""

    quick: bool
    step_seconds: int
    confirm_seconds: int
    latency_seconds: int
    ladders: dict[str, tuple[int, ...]]
    bisections: int
    confirm_factors: tuple[float, ...]
    held_calls: int
    hold_ms: int
    ramp_cps: int
    probe_calls: int
    settle_timeout: float
    quiet_wait: float
    max_consecutive_strict_failures: int
    retry_contended: bool = True


FULL = Plan(
    quick=False,
    step_seconds=10,
    confirm_seconds=20,
    latency_seconds=20,
    ladders={
        "callboard": (50, 100, 200, 300, 400, 500, 600, 800, 1000, 1500),
        "sippy": (50, 100, 150, 200, 300, 400),
    },
    bisections=2,
    confirm_factors=(1.0, 0.85, 0.7),
    held_calls=2000,
    hold_ms=60_000,
    ramp_cps=100,
    probe_calls=100,
    settle_timeout=8.0,
    quiet_wait=5.0,
    max_consecutive_strict_failures=2,
)

QUICK = Plan(
    quick=True,
    step_seconds=5,
    confirm_seconds=8,
    latency_seconds=5,
    ladders={"callboard": (100, 250), "sippy": (50, 100)},
    bisections=0,
    confirm_factors=(1.0,),
    held_calls=300,
    hold_ms=8_000,
    ramp_cps=100,
    probe_calls=20,
    settle_timeout=6.0,
    quiet_wait=2.0,
    max_consecutive_strict_failures=1,
    retry_contended=False,
)


# --------------------------------------------------------------------------- systems


@dataclass
class Agents:
    """The SIPp UAS (callee) of a system, and the ports of both agents."""

    uas: subprocess.Popen[bytes] | None
    uas_dir: Path


class System:
    """A server under test, its UAS, and how a UAC reaches it."""

    key = ""
    label = ""

    def __init__(self, out: Path, ports: Ports) -> None:
        self.out = out / self.key
        self.out.mkdir(parents=True, exist_ok=True)
        self.sip_port = ports.take(f"{self.key} SIP (UDP)")
        self.uas_port = ports.take(f"{self.key} UAS (UDP)")
        self.uac_port = ports.take(f"{self.key} UAC (UDP)")
        self.media_base = ports.take(f"{self.key} SIPp media", span=8)
        self.server: subprocess.Popen[bytes] | None = None
        self.uas: subprocess.Popen[bytes] | None = None
        self.uas_dir = self.out / "uas"
        self.starts = 0

    # -- what each system defines

    def _start_server(self) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def _before_uas(self) -> None:
        """What must happen on the UAS port before the UAS runs (Callboard: REGISTER)."""

    def uac_scenario(self) -> str:
        raise NotImplementedError

    def uac_args(self) -> list[str]:
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        raise NotImplementedError

    # -- shared

    @property
    def pid(self) -> int:
        assert self.server is not None
        return self.server.pid

    def start(self) -> None:
        """A fresh server process and a fresh UAS."""
        self.stop()
        self.starts += 1
        self.server = self._start_server()
        SAMPLER.set_role("server", self.server.pid)
        self._before_uas()
        self.uas_dir = self.out / f"uas-{self.starts}"
        self.uas_dir.mkdir(parents=True, exist_ok=True)
        argv = sipp_uas(self.uas_port, self.media_base + 4, max_log_size=20_000_000, messages=False)
        self.uas = PROCS.start(argv, cwd=self.uas_dir, log_prefix=self.uas_dir / "uas")
        wait_udp_bound(self.uas_port, self.uas, 10)
        SAMPLER.set_role("uas", self.uas.pid)

    def stop(self) -> None:
        if self.uas is not None:
            PROCS.stop(self.uas)
            self.uas = None
            SAMPLER.set_role("uas", None)
        if self.server is not None:
            code = PROCS.stop(self.server, within=15)
            log(f"{self.label}: server pid {self.server.pid} stopped (exit code {code})")
            self.server = None
            SAMPLER.set_role("server", None)

    def uas_counters(self) -> dict[str, int]:
        rows = read_stat_rows(self.uas_dir / "uas_stat.csv")
        if not rows:
            return {"incoming": 0, "successful": 0, "failed": 0, "current": 0}
        last = rows[-1]
        return {
            "incoming": stat_int(last, "IncomingCall(C)"),
            "successful": stat_int(last, "SuccessfulCall(C)"),
            "failed": stat_int(last, "FailedCall(C)"),
            "current": stat_int(last, "CurrentCall"),
            "rows": len(rows),
        }


class Callboard(System):
    key = "callboard"
    label = "Callboard"

    def __init__(
        self,
        out: Path,
        ports: Ports,
        *,
        loop: str,
        cprofile: Path | None,
        wrapper: Path | None = None,
    ) -> None:
        super().__init__(out, ports)
        self.wrapper = wrapper
        self.http_port = ports.take("callboard HTTP (TCP)")
        self.data_dir = self.out / "data"
        self.loop = loop
        self.cprofile = cprofile
        self.provisioned = False

    def _env(self) -> dict[str, str]:
        env = callboard_env(self.sip_port, ring_timeout="60")
        if self.loop != "default":
            env["CALLBOARD_BENCH_LOOP"] = self.loop
        if self.cprofile is not None:
            env["CALLBOARD_BENCH_CPROFILE"] = str(self.cprofile.with_suffix(f".{self.starts}.prof"))
        return env

    def _start_server(self) -> subprocess.Popen[bytes]:
        venv_bin = Path(sys.executable).parent
        if self.wrapper is not None:
            command = [sys.executable, str(self.wrapper)]
        elif self.loop == "default" and self.cprofile is None:
            command = [str(venv_bin / "callboard"), "serve"]
        else:
            command = [sys.executable, str(BENCH_DIR / "serve_callboard.py")]
        process = start_callboard(
            command,
            data_dir=self.data_dir,
            http_port=self.http_port,
            sip_port=self.sip_port,
            env=self._env(),
            folder=self.out,
            log_prefix=self.out / f"server-{self.starts}",
        )
        if not self.provisioned:
            self._provision()
            self.provisioned = True
        return process

    def _api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return _api_request(self.http_port, method, path, body, token=ADMIN_TOKEN)

    def _provision(self) -> None:
        license_id = self._api("GET", "/api/licenses")["items"][0]["id"]
        for account, password in (CALLER, CALLEE):
            provision_phone_user(self.http_port, license_id, account, password)
        log(f"Callboard: provisioned users/devices {CALLER[0]} and {CALLEE[0]}")

    def _register(self, account: str, password: str, port: int) -> None:
        folder = self.out / f"register-{account}-{self.starts}"
        folder.mkdir(parents=True, exist_ok=True)
        argv = [
            *sipp_base("register.xml", f"{LOCALHOST}:{self.sip_port}", port, self.media_base + 6),
            "-m",
            "1",
            "-s",
            account,
            "-au",
            account,
            "-ap",
            password,
            "-auth_uri",
            DOMAIN,
            "-key",
            "domain",
            DOMAIN,
            "-timeout",
            "15s",
            "-recv_timeout",
            "5000",
            "-trace_err",
            "-error_file",
            "errors.log",
        ]
        process = PROCS.start(argv, cwd=folder, log_prefix=folder / "sipp")
        try:
            code = process.wait(30)
        finally:
            PROCS.stop(process)
        if code != 0:
            raise BenchError(f"REGISTER of {account} failed (SIPp exit {code}); see {folder}")

    def _before_uas(self) -> None:
        # Both agents register with digest auth from the ports they then use.
        self._register(*CALLEE, self.uas_port)
        self._register(*CALLER, self.uac_port)
        log(
            f"Callboard: {CALLEE[0]} registered from :{self.uas_port}, {CALLER[0]} from "
            f":{self.uac_port}"
        )

    def uac_scenario(self) -> str:
        return "uac_auth.xml"

    def uac_args(self) -> list[str]:
        return [
            "-s",
            CALLEE[0],
            "-au",
            CALLER[0],
            "-ap",
            CALLER[1],
            "-auth_uri",
            f"{CALLEE[0]}@{DOMAIN}",
            "-key",
            "domain",
            DOMAIN,
            "-key",
            "from_user",
            CALLER[0],
        ]

    def versions(self) -> dict[str, str]:
        loop = {"default": "asyncio (stock `callboard serve`)"}.get(
            self.loop, f"{self.loop} (bench/serve_callboard.py)"
        )
        return callboard_versions(loop)


class Sippy(System):
    key = "sippy"
    label = "Sippy b2bua_simple"

    def __init__(self, out: Path, ports: Ports, venv: Path) -> None:
        super().__init__(out, ports)
        self.venv = venv

    def _start_server(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env["SIPLOG_LVL"] = "WARN"
        argv = [
            str(self.venv / "bin" / "python"),
            str(self.venv / "bin" / "b2bua_simple"),
            "-f",
            "-l",
            LOCALHOST,
            "-p",
            str(self.sip_port),
            "-n",
            f"{LOCALHOST}:{self.uas_port}",
        ]
        process = PROCS.start(
            argv, cwd=self.out, env=env, log_prefix=self.out / f"server-{self.starts}"
        )
        wait_udp_bound(self.sip_port, process, 30)
        return process

    def uac_scenario(self) -> str:
        return "uac_txn.xml"

    def uac_args(self) -> list[str]:
        return ["-s", CALLEE[0]]

    def versions(self) -> dict[str, str]:
        code = (
            "import sys, importlib.metadata as m; "
            "print(m.version('sippy'), m.version('ElPeriodic'), sys.version.split()[0])"
        )
        out = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout.split()
        if len(out) != 3:
            return {"sippy": "?"}
        return {"sippy": out[0], "ElPeriodic": out[1], "python": out[2]}


# --------------------------------------------------------------------------- one step


@dataclass
class Step:
    """One SIPp UAC run against a system, and what it measured."""

    system: str
    kind: str
    target_cps: float
    seconds: int
    calls: int
    folder: str
    exit_code: int = 0
    wall_s: float = 0.0
    created: int = 0
    successful: int = 0
    failed: int = 0
    unfinished: int = 0
    retransmissions: int = 0
    success_pct: float = 0.0
    achieved_cps: float = 0.0
    setup_ms: dict[str, float | None] = field(default_factory=dict)
    auth_invite_ms: dict[str, float | None] = field(default_factory=dict)
    uas_incoming: int = 0
    uas_failed: int = 0
    #: B-legs of this step still open at the UAS after the settle time.
    uas_open: int = 0
    cpu: dict[str, Any] = field(default_factory=dict)
    other_before: float | None = None
    note: str = ""
    strict_pass: bool = False
    reasons: list[str] = field(default_factory=list)
    stop_climbing: bool = False
    failure_kinds: dict[str, int] = field(default_factory=dict)

    def short(self) -> str:
        cpu = self.cpu.get("server", {})
        return (
            f"{self.kind} {self.target_cps:g} cps x {self.seconds} s: {self.success_pct:.2f}% ok, "
            f"achieved {self.achieved_cps:.1f}/s, setup median {self.setup_ms.get('median')} "
            f"p95 {self.setup_ms.get('p95')} ms, B-legs failed {self.uas_failed}, "
            f"server CPU {cpu.get('avg')}% -> {'PASS' if self.strict_pass else 'fail'}"
            + (f" ({'; '.join(self.reasons)})" if self.reasons else "")
        )


_FAILURE_COLUMNS = (
    "FailedMaxUDPRetrans(C)",
    "FailedUnexpectedMessage(C)",
    "FailedCallRejected(C)",
    "FailedTimeoutOnRecv(C)",
    "FailedTimeoutOnSend(C)",
    "FailedCannotSendMessage(C)",
    "FailedOutboundCongestion(C)",
)


def run_uac(
    system: System,
    plan: Plan,
    *,
    kind: str,
    rate: float,
    calls: int,
    duration_ms: int = 1000,
    limit: int | None = None,
    recv_timeout_ms: int = 10_000,
    trace_msg: bool = False,
    during: Callable[[subprocess.Popen[bytes], Path], None] | None = None,
) -> Step:
    """Run the UAC once and measure: SIPp counters, setup times, UAS B-legs, CPU."""
    folder = system.out / f"{len(list(system.out.glob('step-*'))) + 1:02d}-{kind}-{rate:g}cps"
    folder = folder.with_name("step-" + folder.name)
    folder.mkdir(parents=True, exist_ok=True)
    generation = calls / rate
    timeout_s = int(generation + duration_ms / 1000 + recv_timeout_ms / 1000 + 16)
    argv = [
        *sipp_base(
            system.uac_scenario(),
            f"{LOCALHOST}:{system.sip_port}",
            system.uac_port,
            system.media_base,
        ),
        *system.uac_args(),
        "-r",
        f"{rate:g}",
        "-m",
        str(calls),
        "-d",
        str(duration_ms),
        "-l",
        str(limit if limit is not None else int(rate * 11 + 100)),
        "-trace_stat",
        "-stf",
        "stat.csv",
        "-fd",
        "1",
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-recv_timeout",
        str(recv_timeout_ms),
        "-timeout",
        f"{timeout_s}s",
        "-timer_resol",
        "1",
        "-trace_err",
        "-error_file",
        "errors.log",
        "-max_log_size",
        "20000000",
    ]
    if trace_msg:
        argv += ["-trace_msg", "-message_file", "messages.log"]
    other_before = wait_quiet(plan.quiet_wait)
    before = system.uas_counters()
    seconds = round(calls / rate)
    step = Step(system.key, kind, rate, seconds, calls, str(folder), other_before=other_before)
    t0 = time.monotonic()
    process = PROCS.start(argv, cwd=folder, log_prefix=folder / "sipp")
    SAMPLER.set_role("uac", process.pid)
    try:
        if during is not None:
            during(process, folder)
        try:
            step.exit_code = process.wait(timeout_s + 15)
        except subprocess.TimeoutExpired:
            step.exit_code = PROCS.stop(process)
            step.reasons.append("SIPp UAC outlived its -timeout and was killed")
    finally:
        t1 = time.monotonic()
        PROCS.stop(process)
        SAMPLER.set_role("uac", None)
    step.wall_s = round(t1 - t0, 2)
    step.cpu = SAMPLER.stats(t0, t1)
    _settle_uas(system, plan, before, step)
    _read_uac(folder, step)
    _judge(step)
    (folder / "result.json").write_text(json.dumps(asdict(step), indent=2))
    log(f"{system.label}: {step.short()}")
    return step


def _settle_uas(system: System, plan: Plan, before: dict[str, int], step: Step) -> None:
    """Wait until the UAS has finished the B-legs of this step (its 4 s timewait
    included): until it has no more open calls than before the step."""
    deadline = time.monotonic() + plan.settle_timeout
    start_rows = system.uas_counters().get("rows", 0)
    while True:
        now = system.uas_counters()
        fresh = now.get("rows", 0) > start_rows
        if fresh and now["current"] <= before["current"]:
            break
        if time.monotonic() > deadline:
            step.uas_open = now["current"] - before["current"]
            break
        time.sleep(0.25)
    step.uas_incoming = now["incoming"] - before["incoming"]
    step.uas_failed = now["failed"] - before["failed"]


def _read_uac(folder: Path, step: Step) -> None:
    rows = read_stat_rows(folder / "stat.csv")
    if rows:
        last = rows[-1]
        step.created = stat_int(last, "TotalCallCreated")
        step.successful = stat_int(last, "SuccessfulCall(C)")
        step.failed = stat_int(last, "FailedCall(C)")
        step.unfinished = stat_int(last, "CurrentCall")
        step.retransmissions = stat_int(last, "Retransmissions(C)")
        step.failure_kinds = {
            name[6:-3]: stat_int(last, name) for name in _FAILURE_COLUMNS if stat_int(last, name)
        }
    denominator = max(step.calls, step.created)
    step.success_pct = round(100.0 * step.successful / denominator, 2) if denominator else 0.0
    rtt = read_rtt(folder)
    setups = rtt.get(1, [])
    values = [float(v) for _, v in setups]
    step.setup_ms = _summary(values)
    if len(setups) >= 2:
        first = min(at for at, _ in setups)
        last_at = max(at for at, _ in setups)
        span = (last_at - first) / 1000.0
        step.achieved_cps = round((len(setups) - 1) / span, 1) if span > 0 else 0.0
    step.auth_invite_ms = _summary([float(v) for _, v in rtt.get(2, [])])


def _judge(step: Step) -> None:
    p95 = step.setup_ms.get("p95")
    achieved = step.achieved_cps / step.target_cps if step.target_cps else 0.0
    reasons = step.reasons
    if step.success_pct < MIN_SUCCESS_PCT:
        reasons.append(f"success {step.success_pct:.2f}% < {MIN_SUCCESS_PCT:g}%")
    if step.uas_failed > 0:
        reasons.append(f"{step.uas_failed} B-legs failed at the UAS")
    if step.uas_open > 0:
        reasons.append(f"{step.uas_open} B-legs still open at the UAS after the settle time")
    if achieved < MIN_ACHIEVED:
        reasons.append(f"achieved {100 * achieved:.1f}% of the target < 95%")
    if p95 is None or p95 > MAX_P95_MS:
        reasons.append(f"p95 setup {p95} ms > {MAX_P95_MS:g} ms")
    step.strict_pass = not reasons
    step.stop_climbing = (
        step.success_pct < STOP_SUCCESS_PCT
        or step.uas_failed > 0
        or achieved < STOP_ACHIEVED
        or p95 is None
        or p95 > STOP_P95_MS
    )


# --------------------------------------------------------------------------- phases


@dataclass
class SystemResult:
    key: str
    label: str
    versions: dict[str, str] = field(default_factory=dict)
    ladder: list[Step] = field(default_factory=list)
    highest_step_pass: float | None = None
    sustained_cps: float | None = None
    sustained_note: str = ""
    latency: Step | None = None
    probe: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def nice_rate(value: float) -> int:
    if value >= 200:
        return int(round(value / 10.0) * 10)
    if value >= 50:
        return int(round(value / 5.0) * 5)
    return max(1, round(value))


CONTENDED_PCT = 40.0


def run_step(
    system: System, plan: Plan, result: SystemResult, *, kind: str, rate: float, seconds: int
) -> Step:
    """A ladder, bisection or confirm step. One that fails while other processes used
    more than 40% of a core (the machine is shared) is run again once, after waiting up
    to 20 s for quiet; both runs are reported, the second decides."""
    step = run_uac(system, plan, kind=kind, rate=rate, calls=int(rate * seconds))
    result.ladder.append(step)
    other = step.cpu.get("other") or 0.0
    if step.strict_pass or other < CONTENDED_PCT or not plan.retry_contended:
        return step
    step.note = f"contended (other processes {other:g}% of a core): run again"
    log(f"{system.label}: {step.note}")
    deadline = time.monotonic() + 20
    while (SAMPLER.other_recent(2.0) or 0.0) >= QUIET_OTHER_PCT and time.monotonic() < deadline:
        time.sleep(0.5)
    again = run_uac(system, plan, kind=kind, rate=rate, calls=int(rate * seconds))
    again.note = "re-run after a contended run"
    result.ladder.append(again)
    return again


def find_capacity(system: System, plan: Plan, result: SystemResult) -> None:
    """(a): ladder, bisection, then the confirm run(s)."""
    ladder = plan.ladders[system.key]
    seconds = plan.step_seconds
    passed: list[float] = []
    failed: list[float] = []
    consecutive = 0
    for rate in ladder:
        step = run_step(system, plan, result, kind="ladder", rate=rate, seconds=seconds)
        if step.strict_pass:
            passed.append(rate)
            consecutive = 0
        else:
            failed.append(rate)
            consecutive += 1
        if step.stop_climbing or consecutive >= plan.max_consecutive_strict_failures:
            break
    if not passed:
        rate = nice_rate(ladder[0] / 2)
        step = run_step(system, plan, result, kind="ladder", rate=rate, seconds=seconds)
        if step.strict_pass:
            passed.append(rate)
    for _ in range(plan.bisections):
        if not passed:
            break
        low = max(passed)
        above = [r for r in failed if r > low]
        if not above:
            break
        high = min(above)
        middle = nice_rate((low + high) / 2)
        if middle <= low or middle >= high or high / low < 1.08:
            break
        step = run_step(system, plan, result, kind="bisect", rate=middle, seconds=seconds)
        (passed if step.strict_pass else failed).append(middle)
    if not passed:
        result.sustained_note = "no ladder step passed the strict criterion"
        return
    best = max(passed)
    result.highest_step_pass = best
    for factor in plan.confirm_factors:
        rate = nice_rate(best * factor)
        step = run_step(
            system, plan, result, kind="confirm", rate=rate, seconds=plan.confirm_seconds
        )
        if step.strict_pass:
            result.sustained_cps = rate
            result.sustained_note = (
                f"{plan.confirm_seconds} s confirm run passed at {rate:g} cps"
                + ("" if factor == 1.0 else f" ({factor:g} x the best {seconds} s step, {best:g})")
            )
            return
    result.sustained_note = (
        f"no {plan.confirm_seconds} s confirm run passed; the highest passing "
        f"{seconds} s step was {best:g} cps"
    )


def measure_latency(system: System, plan: Plan, result: SystemResult) -> None:
    """(b): a run at 80% of the sustained rate (or of the best step if none confirmed)."""
    base = result.sustained_cps or result.highest_step_pass
    if not base:
        return
    rate = nice_rate(base * 0.8)
    step = run_uac(
        system, plan, kind="latency80", rate=rate, calls=int(rate * plan.latency_seconds)
    )
    other = step.cpu.get("other") or 0.0
    if plan.retry_contended and other >= CONTENDED_PCT:
        log(f"{system.label}: latency run contended (other processes {other:g}%): run again")
        time.sleep(5)
        again = run_uac(
            system, plan, kind="latency80", rate=rate, calls=int(rate * plan.latency_seconds)
        )
        again.note = f"re-run: the first run was contended (other processes {other:g}%)"
        if (again.cpu.get("other") or 0.0) < other:
            step = again
    result.latency = step


def probe_latency(system: System, plan: Plan, result: SystemResult) -> None:
    """Unloaded setup time with microsecond timestamps (20 cps, -trace_msg), as the
    anchors' probe: first INVITE sent -> 200 received; for Callboard also the
    authenticated INVITE -> 200; and BYE -> 200."""
    step = run_uac(system, plan, kind="probe", rate=20, calls=plan.probe_calls, trace_msg=True)
    invite_first: dict[str, float] = {}
    invite_last: dict[str, float] = {}
    answered: dict[str, float] = {}
    bye_sent: dict[str, float] = {}
    bye_ok: dict[str, float] = {}
    for message in trace_messages(Path(step.folder) / "messages.log"):
        call_id, stamp = message.call_id, message.at
        if message.sent and message.is_request("INVITE"):
            invite_first.setdefault(call_id, stamp)
            invite_last[call_id] = stamp
        elif message.sent and message.is_request("BYE"):
            bye_sent.setdefault(call_id, stamp)
        elif not message.sent and message.is_response(200, "INVITE"):
            answered.setdefault(call_id, stamp)
        elif not message.sent and message.is_response(200, "BYE"):
            bye_ok.setdefault(call_id, stamp)

    def micros(starts: dict[str, float], ends: dict[str, float]) -> dict[str, float | None]:
        values = [1e6 * (ends[c] - s) for c, s in starts.items() if c in ends]
        summary = _summary(values)
        summary["min"] = min(values) if values else None
        return {k: (round(v) if v is not None else None) for k, v in summary.items()}

    result.probe = {
        "calls": step.calls,
        "success_pct": step.success_pct,
        "invite_to_200_us": micros(invite_first, answered),
        "cpu_other": step.cpu.get("other"),
        "folder": step.folder,
    }
    if system.key == "callboard":
        result.probe["auth_invite_to_200_us"] = micros(invite_last, answered)
    result.probe["bye_to_200_us"] = micros(bye_sent, bye_ok)


def measure_memory(system: System, plan: Plan, result: SystemResult) -> None:
    """(c): a fresh server process, a 40-call warm-up, then N calls held hold_ms."""
    log(
        f"{system.label}: memory test, fresh process, {plan.held_calls} calls held "
        f"{plan.hold_ms / 1000:g} s"
    )
    system.start()
    warm = run_uac(system, plan, kind="warmup", rate=20, calls=40)
    time.sleep(2)
    pid = system.pid
    base = smaps_rollup(pid)
    timeline: list[dict[str, Any]] = []
    held = plan.held_calls
    t_start = time.monotonic()

    def sample(process: subprocess.Popen[bytes], folder: Path) -> None:
        nonlocal t_start
        t_start = time.monotonic()  # the UAC starts now (after the quiet wait)
        while process.poll() is None:
            rows = read_stat_rows(folder / "stat.csv")
            current = stat_int(rows[-1], "CurrentCall") if rows else 0
            mem = smaps_rollup(pid)
            timeline.append(
                {
                    "t": round(time.monotonic() - t_start, 1),
                    "rss_kib": mem.get("Rss"),
                    "pss_kib": mem.get("Pss"),
                    "uac_current_calls": current,
                }
            )
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(1.0)

    step = run_uac(
        system,
        plan,
        kind="memory",
        rate=plan.ramp_cps,
        calls=held,
        duration_ms=plan.hold_ms,
        limit=held,
        recv_timeout_ms=20_000,
        during=sample,
    )
    time.sleep(2)
    after = smaps_rollup(pid)
    ramp_s = held / plan.ramp_cps
    hold_s = plan.hold_ms / 1000
    # All calls are up from the end of the ramp until the first BYE (hold_s after the
    # first call): the plateau is the last 8 s (quick: 3 s) before that.
    window = 3.0 if plan.quick else 8.0
    end = hold_s - 1.0
    plateau = [
        s
        for s in timeline
        if end - window <= s["t"] <= end and s["t"] >= ramp_s + 1 and s["rss_kib"]
    ]
    all_up = [s for s in plateau if s["uac_current_calls"] >= held]
    result.memory = {
        "held_calls": held,
        "ramp_cps": plan.ramp_cps,
        "hold_s": hold_s,
        "warmup_success_pct": warm.success_pct,
        "success_pct": step.success_pct,
        "uas_failed": step.uas_failed,
        "rss_start_kib": base.get("Rss"),
        "pss_start_kib": base.get("Pss"),
        "rss_plateau_kib": statistics.median(s["rss_kib"] for s in plateau) if plateau else None,
        "pss_plateau_kib": statistics.median(s["pss_kib"] for s in plateau) if plateau else None,
        "plateau_window_s": [round(end - window, 1), round(end, 1)],
        "plateau_samples_with_all_calls_up": len(all_up),
        "plateau_samples": len(plateau),
        "rss_max_kib": max((s["rss_kib"] or 0) for s in timeline) if timeline else None,
        "rss_after_kib": after.get("Rss"),
        "pss_after_kib": after.get("Pss"),
        "server_cpu": step.cpu.get("server"),
        "timeline": timeline,
        "folder": step.folder,
    }
    mem = result.memory
    if mem["rss_plateau_kib"] and mem["rss_start_kib"]:
        mem["rss_per_call_kib"] = round((mem["rss_plateau_kib"] - mem["rss_start_kib"]) / held, 2)
    if mem["pss_plateau_kib"] and mem["pss_start_kib"]:
        mem["pss_per_call_kib"] = round((mem["pss_plateau_kib"] - mem["pss_start_kib"]) / held, 2)
    log(
        f"{system.label}: memory RSS {mem['rss_start_kib']} -> {mem['rss_plateau_kib']} KiB "
        f"({mem.get('rss_per_call_kib')} KiB/call), PSS {mem.get('pss_per_call_kib')} KiB/call"
    )


def profile_step(
    system: System, plan: Plan, result: SystemResult, rate: float, py_spy: Path
) -> None:
    """py-spy (sampling, from outside the process) on the server during one step."""
    seconds = plan.step_seconds
    holder: dict[str, Any] = {}

    def record(process: subprocess.Popen[bytes], folder: Path) -> None:
        holder["spy"] = start_py_spy(py_spy, system.pid, seconds, folder)

    step = run_uac(
        system, plan, kind="profile", rate=rate, calls=int(rate * seconds), during=record
    )
    profile = py_spy_profile(holder.get("spy"), Path(step.folder))
    result.profile = {"rate": rate, "folder": step.folder, "step": asdict(step)}
    if profile is not None:
        result.profile.update(profile)


# --------------------------------------------------------------------------- report


def _cpu_cell(step: Step) -> str:
    server = step.cpu.get("server", {})
    return f"{_fmt(server.get('avg'))} ({_fmt(server.get('peak_1s'))})"


def _sipp_cpu(step: Step) -> str:
    uac = step.cpu.get("uac", {}).get("avg")
    uas = step.cpu.get("uas", {}).get("avg")
    return f"{_fmt(uac)} / {_fmt(uas)}"


def ladder_table(result: SystemResult) -> list[str]:
    lines = [
        "| kind | target cps | calls | achieved setups/s | success % | failed (UAC) | "
        "B-legs failed (UAS) | retrans. | setup median / p95 / p99 ms | auth INVITE->200 "
        "median / p95 ms | server CPU % avg (peak 1 s) | sipp UAC / UAS CPU % | other procs "
        "CPU % | machine busy % | strict |",
        "|" + "---|" * 15,
    ]
    for s in result.ladder:
        setup = s.setup_ms
        auth = s.auth_invite_ms
        auth_cell = (
            f"{_fmt(auth.get('median'))} / {_fmt(auth.get('p95'))}" if auth.get("n") else "n/a"
        )
        verdict = "yes" if s.strict_pass else "no: " + "; ".join(s.reasons)
        if s.note:
            verdict += f" ({s.note})"
        lines.append(
            f"| {s.kind} | {s.target_cps:g} | {s.calls} | {s.achieved_cps:.1f} | "
            f"{s.success_pct:.2f} | {s.failed} | {s.uas_failed} | {s.retransmissions} | "
            f"{_fmt(setup.get('median'))} / {_fmt(setup.get('p95'))} / {_fmt(setup.get('p99'))} | "
            f"{auth_cell} | {_cpu_cell(s)} | {_sipp_cpu(s)} | {_fmt(s.cpu.get('other'))} | "
            f"{_fmt(s.cpu.get('machine_busy'))} | {verdict} |"
        )
    return lines


def _latency(result: SystemResult) -> Step:
    if result.latency is None:
        raise LookupError("no latency run")
    return result.latency


SUMMARY: tuple[tuple[str, Callable[[SystemResult], Any], int], ...] = (
    ("Sustained call rate, strict, 20 s confirm run (cps)", lambda r: r.sustained_cps, 0),
    ("Highest passing 10 s ladder step (cps)", lambda r: r.highest_step_pass, 0),
    ("Latency run rate (80% of sustained, cps)", lambda r: _latency(r).target_cps, 0),
    ("Setup median at 80% (ms, first INVITE -> 200)", lambda r: _latency(r).setup_ms["median"], 1),
    ("Setup p99 at 80% (ms)", lambda r: _latency(r).setup_ms["p99"], 1),
    ("Server CPU at 80% (% of one core)", lambda r: _latency(r).cpu["server"]["avg"], 1),
    (
        "Server CPU per call at 80% (ms of one core)",
        lambda r: round(10 * _latency(r).cpu["server"]["avg"] / _latency(r).achieved_cps, 2),
        2,
    ),
    (
        "SIPp UAC + UAS CPU at 80% (% of one core)",
        lambda r: round(_latency(r).cpu["uac"]["avg"] + _latency(r).cpu["uas"]["avg"], 1),
        1,
    ),
    ("Unloaded setup median, 20 cps (µs)", lambda r: r.probe["invite_to_200_us"]["median"], 0),
    ("Memory per held call, RSS (KiB)", lambda r: r.memory["rss_per_call_kib"], 2),
    ("Memory per held call, PSS (KiB)", lambda r: r.memory["pss_per_call_kib"], 2),
)


def summary_rows(results: dict[str, SystemResult]) -> list[str]:
    def get(key: str, fn: Callable[[SystemResult], Any]) -> Any:
        result = results.get(key)
        if result is None:
            return None
        try:
            return fn(result)
        except (LookupError, TypeError, ZeroDivisionError):
            return None

    lines = [
        "| figure | Callboard (auth on) | Sippy b2bua_simple (no auth) | Callboard / Sippy |",
        "|---|---|---|---|",
    ]
    for title, fn, digits in SUMMARY:
        a, b = get("callboard", fn), get("sippy", fn)
        lines.append(f"| {title} | {_fmt(a, digits)} | {_fmt(b, digits)} | {_ratio(a, b)} |")
    return lines


QUICK_NOTE = "QUICK (smoke run: short steps, few calls; not figures to quote)"


def write_report(
    out: Path,
    meta: dict[str, Any],
    results: dict[str, SystemResult],
    plan: Plan,
    *,
    results_md: Path | None,
) -> None:
    data = {
        "meta": meta,
        "plan": asdict(plan),
        "results": {key: asdict(r) for key, r in results.items()},
    }
    (out / "results.json").write_text(json.dumps(data, indent=2, default=str))
    lines: list[str] = [
        f"# SIP call benchmark: Callboard vs Sippy b2bua_simple ({meta['started']})",
        "",
        f"Mode: {QUICK_NOTE if plan.quick else 'full'}."
        f" Command: `{meta['command']}`. Wall time {meta.get('wall_s')} s."
        + (f" **Stopped early: {meta['aborted']}**" if meta.get("aborted") else ""),
        "",
        "## Summary",
        "",
        *summary_rows(results),
        "",
        "Ratios: above 1 is better for rates, below 1 for setup times, CPU and memory. "
        "Strict criterion for a rate to pass: >= 99% of calls succeed at the UAC, no B-leg "
        "fails at the UAS, achieved setup rate >= 95% of the target, p95 setup (first INVITE "
        "sent -> 200 received, SIPp -trace_rtt, whole ms) <= 200 ms. Callboard's setup "
        "includes the 407 challenge round trip (INVITE, 407, ACK, INVITE with credentials); "
        "Sippy's has no authentication.",
        "",
        "## Machine and versions",
        "",
    ]
    machine = meta["machine"]
    lines += [
        f"- Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, "
        f"{machine['mem_gib']} GiB RAM, "
        f"kernel {machine['kernel']}, {machine['os']}. USER_HZ={machine['clk_tck']}. "
        f"net.core.rmem_default={machine['rmem_default']}, rmem_max={machine['rmem_max']}.",
        f"- Load average: {meta['load_start']} at the start, {meta.get('load_end')} at the end.",
        f"- SIPp: {meta['sipp']} (UAC and UAS with -buff_size {SIPP_BUFFER}; UAC -timer_resol 1).",
    ]
    for result in results.values():
        versions = ", ".join(f"{k} {v}" for k, v in result.versions.items())
        lines.append(f"- {result.label}: {versions}.")
    lines += [f"- Ports: {meta['ports']}", ""]
    for result in results.values():
        lines += [f"## {result.label}", ""]
        if result.error:
            lines += [f"**Error:** {result.error}", ""]
        lines += [
            f"Sustained rate: **{_fmt(result.sustained_cps)} cps** ({result.sustained_note}).",
            "",
            "### (a) Call ladder",
            "",
            *ladder_table(result),
            "",
        ]
        if result.latency is not None:
            s = result.latency
            lines += [
                "### (b) Setup latency at 80% of the sustained rate",
                "",
                f"{s.target_cps:g} cps for {s.seconds} s ({s.calls} calls, {s.success_pct:.2f}% "
                f"ok, achieved {s.achieved_cps:.1f}/s): setup median "
                f"**{_fmt(s.setup_ms.get('median'))} ms**, p95 {_fmt(s.setup_ms.get('p95'))} ms, "
                f"p99 **{_fmt(s.setup_ms.get('p99'))} ms**, max {_fmt(s.setup_ms.get('max'))} ms"
                + (
                    f"; authenticated INVITE->200 median {_fmt(s.auth_invite_ms.get('median'))} "
                    f"/ p99 {_fmt(s.auth_invite_ms.get('p99'))} ms"
                    if s.auth_invite_ms.get("n")
                    else ""
                )
                + f". Server CPU {_cpu_cell(s)} %, SIPp UAC / UAS {_sipp_cpu(s)} %, other "
                f"processes {_fmt(s.cpu.get('other'))} %, machine {_fmt(s.cpu.get('machine_busy'))}"
                " % busy.",
                "",
            ]
        if result.probe:
            p = result.probe
            inv = p["invite_to_200_us"]
            lines += [
                "Unloaded probe (20 cps, µs timestamps from -trace_msg): INVITE->200 median "
                f"{_fmt(inv.get('median'))} µs, p95 {_fmt(inv.get('p95'))} µs, min "
                f"{_fmt(inv.get('min'))} µs"
                + (
                    "; authenticated INVITE->200 median "
                    f"{_fmt(p['auth_invite_to_200_us'].get('median'))} µs"
                    if "auth_invite_to_200_us" in p
                    else ""
                )
                + f"; BYE->200 median {_fmt(p['bye_to_200_us'].get('median'))} µs "
                f"(other procs CPU {_fmt(p.get('cpu_other'))} %).",
                "",
            ]
        if result.memory:
            m = result.memory
            lines += [
                f"### (c) Memory with {m['held_calls']} calls held {m['hold_s']:g} s "
                "(fresh process)",
                "",
                "| RSS start KiB | RSS plateau KiB | RSS max KiB | PSS start -> plateau KiB | "
                "RSS per call KiB | PSS per call KiB | RSS after the BYEs KiB | calls ok % | "
                "B-legs failed |",
                "|---|---|---|---|---|---|---|---|---|",
                f"| {_fmt(m.get('rss_start_kib'))} | {_fmt(m.get('rss_plateau_kib'))} | "
                f"{_fmt(m.get('rss_max_kib'))} | {_fmt(m.get('pss_start_kib'))} -> "
                f"{_fmt(m.get('pss_plateau_kib'))} | **{_fmt(m.get('rss_per_call_kib'), 2)}** | "
                f"**{_fmt(m.get('pss_per_call_kib'), 2)}** | {_fmt(m.get('rss_after_kib'))} | "
                f"{_fmt(m.get('success_pct'), 2)} | {_fmt(m.get('uas_failed'))} |",
                "",
                f"Plateau: median of the samples {m['plateau_window_s'][0]:g} to "
                f"{m['plateau_window_s'][1]:g} s after the first call ({m['plateau_samples']} "
                f"samples, {m['plateau_samples_with_all_calls_up']} with all calls up at the "
                f"UAC); {m['ramp_cps']} cps ramp. RSS timeline (t s: KiB): "
                + ", ".join(
                    f"{s['t']:g}: {s['rss_kib']}"
                    for s in m["timeline"][:: max(1, len(m["timeline"]) // 12)]
                ),
                "",
            ]
        if result.profile:
            prof = result.profile
            lines += [
                f"### Profile (py-spy, {prof['rate']:g} cps, event-loop thread; "
                f"{prof.get('samples')} samples, {prof.get('idle_pct')}% idle in select)",
                "",
                "| self % | function |",
                "|---|---|",
                *[f"| {pct} | `{name}` |" for pct, name in prof.get("self", [])[:20]],
                "",
                "| inclusive % | function |",
                "|---|---|",
                *[f"| {pct} | `{name}` |" for pct, name in prof.get("inclusive", [])[:30]],
                "",
            ]
    lines += [
        "## Method",
        "",
        "As ../shared/reference/performance.md: each ladder step runs the UAC for "
        f"{plan.step_seconds} s (calls of 1 s, `-l rate*11+100`, `-recv_timeout 10000`); "
        "climbing stops at the first step with < 99% success, a failed B-leg, < 90% of the "
        "target achieved or p95 > 2 s (or after "
        f"{plan.max_consecutive_strict_failures} strict failures in a row); up to "
        f"{plan.bisections} bisection steps between the best strict pass and the first strict "
        f"failure above it; then a {plan.confirm_seconds} s confirm run at the best rate "
        f"(then at {', '.join(f'{f:g}' for f in plan.confirm_factors[1:]) or '-'} x it if it "
        "fails). Before each step the harness waits up to "
        f"{plan.quiet_wait:g} s for other processes to drop below 15% of a core. CPU: "
        "/proc/<pid>/stat every 0.5 s, % of one core (average over the step, and the highest "
        "1 s window); 'other procs' is every process this script did not start; 'machine busy'"
        " is /proc/stat over all CPUs. Achieved setups/s: rtt samples over the time from the "
        "first to the last. Memory: /proc/<pid>/smaps_rollup of the server process, a fresh "
        "process after a 40-call warm-up, the plateau taken while every call is up.",
        "",
        "Per-step files (SIPp command, stat.csv, rtt.csv, errors) are in the step-* folders "
        "next to this report.",
        "",
    ]
    report = "\n".join(lines)
    (out / "report.md").write_text(report)
    if results_md is not None:
        text = results_summary(meta, results, plan, out)
        # Hand-written notes below the marker survive a new run.
        with contextlib.suppress(FileNotFoundError):
            _, marker, notes = results_md.read_text().partition(NOTES_MARKER)
            if marker:
                text += "\n" + marker + notes
        results_md.write_text(text)


NOTES_MARKER = "<!-- notes: everything below is kept when bench/sip_calls.py rewrites this file -->"


def results_summary(
    meta: dict[str, Any], results: dict[str, SystemResult], plan: Plan, out: Path
) -> str:
    machine = meta["machine"]
    lines = [
        "# SIP benchmark results (bench/sip_calls.py)",
        "",
        f"Last full run: {meta['started']} (wall time {meta.get('wall_s')} s), "
        f"`{meta['command']}`. Full report: `bench/results/{out.name}/report.md` (not committed).",
        "",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['mem_gib']} GiB, "
        f"kernel {machine['kernel']}, load average {meta['load_start']} at the start. SIPp "
        f"{meta['sipp']}. Shared machine: see 'other procs CPU' in the report.",
        "",
    ]
    for result in results.values():
        versions = ", ".join(f"{k} {v}" for k, v in result.versions.items())
        lines.append(f"- {result.label}: {versions}.")
    lines += ["", *summary_rows(results), ""]
    lines += [
        "Ratios are Callboard / Sippy: above 1 is better for rates, below 1 for setup "
        "times, CPU and memory. Target (issue 3): at least 3x Sippy's sustained call rate "
        "with authentication on, and under 10 KB (9.77 KiB) per held call.",
        "",
    ]
    for result in results.values():
        lines.append(f"## {result.label}: call ladder")
        lines.append("")
        lines += ladder_table(result)
        lines.append("")
        if result.profile.get("self"):
            prof = result.profile
            lines += [
                f"Hot spots of {result.label} (py-spy at {prof['rate']:g} cps, event-loop "
                f"thread, {prof.get('idle_pct')}% idle), self time:",
                "",
                *[f"- {pct}% `{name}`" for pct, name in prof["self"][:12]],
                "",
            ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="SIP call benchmark: Callboard vs Sippy b2bua_simple (see bench/README.md)."
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: a few short steps (~2 min)"
    )
    parser.add_argument("--systems", default="callboard,sippy", help="comma list: callboard, sippy")
    parser.add_argument(
        "--phases",
        default="capacity,latency,probe,memory",
        help="comma list of capacity, latency, probe, memory",
    )
    parser.add_argument("--out", type=Path, help="results folder (default bench/results/<UTC>)")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "callboard-bench",
        help="where the separate venvs (sippy, py-spy) live",
    )
    parser.add_argument("--sippy-venv", type=Path, help="venv with sippy (created if missing)")
    parser.add_argument("--port-base", type=int, default=25060)
    parser.add_argument(
        "--time-limit", type=int, help="hard limit in seconds (default 1440, quick 300; max 1500)"
    )
    parser.add_argument(
        "--loop",
        choices=("default", "asyncio", "uvloop"),
        default="default",
        help="Callboard's event loop: default runs `callboard serve` as it ships; asyncio "
        "or uvloop go through bench/serve_callboard.py",
    )
    parser.add_argument(
        "--profile",
        choices=("none", "py-spy", "cprofile"),
        default="none",
        help="py-spy: sample Callboard during one extra step; cprofile: run Callboard under "
        "cProfile (distorts every figure: use with --phases for a profile only)",
    )
    parser.add_argument("--profile-rate", type=float, help="cps of the py-spy step")
    parser.add_argument(
        "--callboard-wrapper",
        type=Path,
        help="experiments: start Callboard with `python WRAPPER --data-dir D --port P` instead",
    )
    parser.add_argument("--py-spy", type=Path, help="py-spy binary (default: a venv in --work-dir)")
    parser.add_argument("--ladder", help="override the Callboard ladder, e.g. 100,200,300")
    parser.add_argument("--sippy-ladder", help="override the Sippy ladder")
    parser.add_argument(
        "--write-results-md",
        choices=("auto", "yes", "no"),
        default="auto",
        help="write bench/RESULTS.md (auto: full runs of both systems with every phase)",
    )
    args = parser.parse_args(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.ladder or args.sippy_ladder:
        ladders = dict(plan.ladders)
        if args.ladder:
            ladders["callboard"] = tuple(int(x) for x in args.ladder.split(","))
        if args.sippy_ladder:
            ladders["sippy"] = tuple(int(x) for x in args.sippy_ladder.split(","))
        plan = dataclasses.replace(plan, ladders=ladders)
    limit = min(args.time_limit or (300 if plan.quick else 1440), 1500)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    unknown = set(systems) - {"callboard", "sippy"} | phases - {
        "capacity",
        "latency",
        "probe",
        "memory",
    }
    if unknown:
        raise SystemExit(f"unknown systems/phases: {sorted(unknown)}")

    started = dt.datetime.now(dt.UTC)
    out = args.out or BENCH_DIR / "results" / started.strftime("%Y%m%d-%H%M%S")
    open_results(out)
    t_start = time.monotonic()
    arm_time_limit(limit)
    meta = run_meta("bench/sip_calls.py", argv, started, limit)
    log(f"results in {out}; hard time limit {limit} s; plan {'quick' if plan.quick else 'full'}")
    log(
        f"machine: {meta['machine']['nproc']} x {meta['machine']['cpu_model']}, load "
        f"{meta['load_start']}"
    )
    SAMPLER.start()
    results: dict[str, SystemResult] = {}
    ports = Ports(args.port_base)
    write_md: Path | None = None
    if args.write_results_md == "yes" or (
        args.write_results_md == "auto"
        and not plan.quick
        and set(systems) == {"callboard", "sippy"}
        and phases == {"capacity", "latency", "probe", "memory"}
        and args.loop == "default"
        and args.profile != "cprofile"
        and args.callboard_wrapper is None
    ):
        write_md = BENCH_DIR / "RESULTS.md"
    py_spy: Path | None = None
    exit_code = 0
    try:
        if args.profile == "py-spy":
            py_spy = py_spy_binary(args.py_spy, args.work_dir)
        built: list[System] = []
        for key in systems:
            if key == "callboard":
                cprofile = out / "callboard" / "cprofile" if args.profile == "cprofile" else None
                built.append(
                    Callboard(
                        out,
                        ports,
                        loop=args.loop,
                        cprofile=cprofile,
                        wrapper=args.callboard_wrapper,
                    )
                )
            else:
                venv = args.sippy_venv or args.work_dir / "sippy-venv"
                built.append(Sippy(out, ports, ensure_venv(venv, "sippy", "b2bua_simple")))
        meta["ports"] = ", ".join(f"{k} {v}" for k, v in ports.given.items())
        for system in built:
            result = SystemResult(system.key, system.label)
            results[system.key] = result
            try:
                result.versions = system.versions()
                log(f"== {system.label} ({result.versions})")
                system.start()
                if "capacity" in phases:
                    find_capacity(system, plan, result)
                if "latency" in phases:
                    measure_latency(system, plan, result)
                if "probe" in phases:
                    probe_latency(system, plan, result)
                if py_spy is not None and system.key == "callboard":
                    rate = args.profile_rate or result.highest_step_pass or 200
                    profile_step(system, plan, result, rate, py_spy)
                if "memory" in phases:
                    measure_memory(system, plan, result)
            except BenchError as error:
                result.error = str(error)
                log(f"{system.label}: ERROR {error}")
                exit_code = 1
            except Exception as error:  # a bug or an HTTP error: report it, go on
                result.error = f"{type(error).__name__}: {error}"
                log(f"{system.label}: ERROR {result.error}\n{traceback.format_exc()}")
                exit_code = 1
            finally:
                system.stop()
                write_report(out, meta, results, plan, results_md=None)
    except (BenchTimeout, Interrupted) as stop:
        meta["aborted"] = str(stop)
        log(f"stopping: {stop}")
        exit_code = 2
    finally:
        finish_run(meta, t_start)
        if meta.get("aborted") or exit_code:
            write_md = None
        write_report(out, meta, results, plan, results_md=write_md)
        log(f"report: {out / 'report.md'}" + (f"; summary: {write_md}" if write_md else ""))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
