"""What the benchmarks in bench/ share: a run's life (results folder, time limit, end),
processes, ports, CPU and memory from /proc, SIPp, the machine, a bench Callboard node,
and report formatting.

Everything here is bounded and local: processes are started in their own session and
stopped by their pid (never by name), only 127.0.0.1 is used, and every port is checked
free (UDP and TCP, and in /proc/net) before use. bench/sip_calls.py and bench/events.py
import it; run them from the repository (`.venv/bin/python bench/<name>.py`).
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SCENARIOS = BENCH_DIR / "scenarios"
LOCALHOST = "127.0.0.1"
DOMAIN = "callboard.lo"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
SIPP_BUFFER = "4194304"
ADMIN_TOKEN = "callboard-bench-admin-token-0123456789"  # noqa: S105 - a local throwaway server
QUIET_OTHER_PCT = 15.0


class BenchError(RuntimeError):
    """The benchmark cannot go on (a server did not start, a port is taken...)."""


class BenchTimeout(BaseException):
    """The hard overall time limit was reached (raised from SIGALRM)."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT: stop everything and write what was measured."""


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    line = f"[{stamp}] {message}"
    print(line, flush=True)
    if LOG_FILE is not None:
        with LOG_FILE.open("a") as handle:
            handle.write(line + "\n")


LOG_FILE: Path | None = None


def set_log_file(path: Path | None) -> None:
    """Where log() copies its lines (the run's bench.log), besides stdout."""
    global LOG_FILE
    LOG_FILE = path


# --------------------------------------------------------------------------- a run


def open_results(out: Path) -> None:
    """Make `out`, the run's new results folder, and log into its bench.log; SystemExit
    when it exists and is not empty (results are never overwritten)."""
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty: give a new --out folder")
    out.mkdir(parents=True, exist_ok=True)
    set_log_file(out / "bench.log")


def arm_time_limit(limit: int) -> None:
    """After `limit` s, BenchTimeout; SIGTERM and SIGINT raise Interrupted. Both derive
    from BaseException, so they stop a run wherever it is, and `finish_run` cleans up."""

    def on_alarm(signum: int, frame: types.FrameType | None) -> None:
        raise BenchTimeout(f"hard time limit of {limit} s reached")

    def on_signal(signum: int, frame: types.FrameType | None) -> None:
        raise Interrupted(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.alarm(limit)


def run_meta(
    script: str, argv: Sequence[str] | None, started: dt.datetime, limit: int, **extra: str
) -> dict[str, Any]:
    """What a report says of the run: when, the command, the machine, its load, SIPp's
    version, `extra`, and the time limit."""
    return {
        "started": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": " ".join([script, *(argv or sys.argv[1:])]),
        "machine": machine_info(),
        "load_start": loadavg(),
        "sipp": sipp_version(),
        **extra,
        "time_limit_s": limit,
    }


def finish_run(
    meta: dict[str, Any], t_start: float, *, stop: Callable[[], None] | None = None
) -> None:
    """The end of a run, however it went: the time limit disarmed, `stop` called (the
    system under test), every process and the CPU sampler stopped; `meta` gets the wall
    time and the load average at the end."""
    signal.alarm(0)
    if stop is not None:
        stop()
    PROCS.stop_all()
    SAMPLER.stop()
    meta["wall_s"] = round(time.monotonic() - t_start, 1)
    meta["load_end"] = loadavg()


def py_spy_binary(given: Path | None, work_dir: Path) -> Path:
    """`given`, or py-spy installed in a venv under `work_dir` (made when missing)."""
    if given is not None:
        return given
    return ensure_venv(work_dir / "py-spy-venv", "py-spy", "py-spy") / "bin" / "py-spy"


# --------------------------------------------------------------------------- processes


class Processes:
    """Every process this script starts; each is stopped by its pid, never by name."""

    def __init__(self) -> None:
        self._live: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def start(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        log_prefix: Path,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        log_prefix.parent.mkdir(parents=True, exist_ok=True)
        (log_prefix.parent / f"{log_prefix.name}.cmd.txt").write_text(
            " ".join(_quote(a) for a in argv) + "\n"
        )
        with (
            (log_prefix.parent / f"{log_prefix.name}.stdout.txt").open("wb") as out,
            (log_prefix.parent / f"{log_prefix.name}.stderr.txt").open("wb") as err,
        ):
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        with self._lock:
            self._live[process.pid] = process
        return process

    def adopt(self, process: subprocess.Popen[bytes]) -> None:
        """A process started elsewhere (with pipes, say): stopped with the others at the
        end, and never counted among the machine's other processes."""
        with self._lock:
            self._live[process.pid] = process

    def pids(self) -> set[int]:
        with self._lock:
            return set(self._live)

    def stop(self, process: subprocess.Popen[bytes], within: float = 8.0) -> int:
        """SIGTERM (SIPp writes its statistics, servers shut down), SIGKILL if needed."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(within)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(5)
        with self._lock:
            self._live.pop(process.pid, None)
        return process.returncode

    def forget(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._live.pop(process.pid, None)

    def stop_all(self) -> None:
        with self._lock:
            live = list(self._live.values())
        for process in live:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)
        with self._lock:
            self._live.clear()


PROCS = Processes()
atexit.register(PROCS.stop_all)


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


# --------------------------------------------------------------------------- ports


def _bound_ports(kind: str) -> set[int]:
    """Ports bound (UDP) or listening (TCP) on 127.0.0.1 or any address, from /proc."""
    found: set[int] = set()
    for table in (f"/proc/net/{kind}", f"/proc/net/{kind}6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                _address, port = fields[1].rsplit(":", 1)
                if kind == "tcp" and fields[3] != "0A":
                    continue
                found.add(int(port, 16))
    return found


def _bindable(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def port_free(port: int) -> bool:
    """Free for UDP and TCP on 127.0.0.1, and not bound on any address either."""
    if port in _bound_ports("udp") or port in _bound_ports("tcp"):
        return False
    return _bindable(port, socket.SOCK_DGRAM) and _bindable(port, socket.SOCK_STREAM)


class Ports:
    """Hands out ports from `base` up, each checked free (UDP and TCP) first."""

    def __init__(self, base: int) -> None:
        self._next = base
        self.given: dict[str, int] = {}

    def take(self, role: str, span: int = 1) -> int:
        for _ in range(2000):
            first = self._next
            self._next += span
            if first + span > 65535:
                break
            if all(port_free(p) for p in range(first, first + span)):
                self.given[role] = first
                return first
        raise BenchError(f"no free port for {role} on {LOCALHOST}")


def wait_udp_bound(port: int, process: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while port not in _bound_ports("udp"):
        if process.poll() is not None:
            raise BenchError(f"process {process.pid} exited ({process.returncode}) before binding")
        if time.monotonic() > deadline:
            raise BenchError(f"nothing bound UDP port {port} within {within:g} s")
        time.sleep(0.05)


# --------------------------------------------------------------------------- /proc


def proc_ticks(pid: int) -> int | None:
    """utime + stime of a process (all its threads), in clock ticks."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def _proc_ticks_and_start(pid: int) -> tuple[int, int] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12]), int(fields[19])


def smaps_rollup(pid: int) -> dict[str, int]:
    """Rss, Pss... in KiB, from /proc/<pid>/smaps_rollup."""
    values: dict[str, int] = {}
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[name.strip()] = int(parts[0])
    return values


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])
    idle = fields[3] + fields[4]
    return total - idle, total


def uptime_ticks() -> float:
    return float(Path("/proc/uptime").read_text().split()[0]) * CLK_TCK


@dataclass
class CpuSample:
    t: float
    roles: dict[str, int]
    other: int
    harness: int
    busy: int
    total: int
    pids: dict[str, int] = field(default_factory=dict)


class CpuSampler(threading.Thread):
    """Every 0.5 s: CPU ticks of the processes with a role (server, uac, uas), of this
    script, of every other process on the machine, and of the machine."""

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(name="cpu-sampler", daemon=True)
        self.interval = interval
        self.roles: dict[str, int] = {}
        self.samples: list[CpuSample] = []
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._prev: dict[int, int] = {}
        self._prev_uptime = uptime_ticks()
        self._other_total = 0

    def set_role(self, role: str, pid: int | None) -> None:
        with self._lock:
            if pid is None:
                self.roles.pop(role, None)
            else:
                self.roles[role] = pid

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def sample(self) -> None:
        with self._lock:
            roles = dict(self.roles)
        mine = PROCS.pids() | {os.getpid()}
        now_uptime = uptime_ticks()
        current: dict[int, int] = {}
        other_delta = 0
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            if pid in mine:
                continue
            found = _proc_ticks_and_start(pid)
            if found is None:
                continue
            ticks, started = found
            current[pid] = ticks
            previous = self._prev.get(pid)
            if previous is not None:
                other_delta += max(0, ticks - previous)
            elif started >= self._prev_uptime:
                other_delta += ticks  # born since the last sample
        self._prev = current
        self._prev_uptime = now_uptime
        self._other_total += other_delta
        role_ticks = {role: proc_ticks(pid) or 0 for role, pid in roles.items()}
        role_pids = dict(roles)
        busy, total = machine_ticks()
        harness = proc_ticks(os.getpid()) or 0
        sample = CpuSample(
            time.monotonic(), role_ticks, self._other_total, harness, busy, total, role_pids
        )
        with self._lock:
            self.samples.append(sample)

    def window(self, t0: float, t1: float) -> list[CpuSample]:
        with self._lock:
            return [s for s in self.samples if t0 - 0.6 <= s.t <= t1 + 0.6]

    def stats(self, t0: float, t1: float) -> dict[str, Any]:
        """Average and 1 s peak CPU (% of one core) per role over [t0, t1], the other
        processes' and this script's average, and the machine's busy % (of all CPUs)."""
        samples = self.window(t0, t1)
        out: dict[str, Any] = {}
        if len(samples) < 2:
            return out
        first, last = samples[0], samples[-1]
        span = last.t - first.t
        if span <= 0:
            return out

        def pct(delta: int, seconds: float) -> float:
            return round(100.0 * delta / CLK_TCK / seconds, 1)

        roles = {role for s in samples for role in s.roles}
        for role in sorted(roles):
            # The process in the role at the end of the window (a restarted server is a
            # new process: its ticks start again from zero).
            pid = next(s.pids.get(role) for s in reversed(samples) if role in s.roles)
            having = [s for s in samples if role in s.roles and s.pids.get(role) == pid]
            if len(having) < 2 or having[-1].t <= having[0].t:
                continue
            avg = pct(having[-1].roles[role] - having[0].roles[role], having[-1].t - having[0].t)
            peak = 0.0
            for i, start in enumerate(having):
                for end in having[i + 1 :]:
                    if end.t - start.t >= 0.99:
                        peak = max(peak, pct(end.roles[role] - start.roles[role], end.t - start.t))
                        break
            out[role] = {"avg": avg, "peak_1s": peak}
        out["other"] = pct(last.other - first.other, span)
        out["harness"] = pct(last.harness - first.harness, span)
        total = last.total - first.total
        out["machine_busy"] = (
            round(100.0 * (last.busy - first.busy) / total, 1) if total > 0 else None
        )
        return out

    def other_recent(self, seconds: float = 1.0) -> float | None:
        with self._lock:
            if len(self.samples) < 2:
                return None
            last = self.samples[-1]
            start = next(
                (s for s in reversed(self.samples) if last.t - s.t >= seconds), self.samples[0]
            )
        span = last.t - start.t
        if span <= 0:
            return None
        return 100.0 * (last.other - start.other) / CLK_TCK / span


SAMPLER = CpuSampler()


def wait_quiet(seconds: float) -> float | None:
    """Wait (up to `seconds`) for other processes to use < 15% of a core; returns their
    CPU (% of one core) over the last second."""
    deadline = time.monotonic() + seconds
    other = SAMPLER.other_recent()
    while other is not None and other >= QUIET_OTHER_PCT and time.monotonic() < deadline:
        time.sleep(0.5)
        other = SAMPLER.other_recent()
    return other


# --------------------------------------------------------------------------- SIPp


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise BenchError("sipp is not on PATH (Debian package sip-tester)")
    return path


def sipp_version() -> str:
    banner = subprocess.run(
        [sipp_binary(), "-v"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    found = re.search(r"SIPp v\S+", banner)
    return found.group(0).rstrip(".") if found else banner.strip()


def sipp_base(scenario: str, remote: str | None, port: int, media_port: int) -> list[str]:
    argv = [sipp_binary(), "-sf", str(SCENARIOS / scenario)]
    if remote is not None:
        argv.append(remote)
    return [
        *argv,
        "-i",
        LOCALHOST,
        "-bind_local",
        "-p",
        str(port),
        "-mp",
        str(media_port),
        "-nostdin",
        "-buff_size",
        SIPP_BUFFER,
    ]


def sipp_uas(port: int, media_port: int, *, max_log_size: int, messages: bool) -> list[str]:
    """The bench UAS (uas_lc.xml, which answers every call) on `port`: its statistics
    every second in uas_stat.csv, its errors in uas_errors.log (`max_log_size` bytes at
    most) and, with `messages`, every message it sent or got in uas_messages.log."""
    argv = sipp_base("uas_lc.xml", None, port, media_port)
    if messages:
        argv += ["-trace_msg", "-message_file", "uas_messages.log"]
    return [
        *argv,
        "-trace_stat",
        "-stf",
        "uas_stat.csv",
        "-fd",
        "1",
        "-trace_err",
        "-error_file",
        "uas_errors.log",
        "-max_log_size",
        str(max_log_size),
    ]


def read_stat_rows(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    rows = [row for row in csv.reader(text.splitlines(), delimiter=";") if row]
    if len(rows) < 2:
        return []
    header = rows[0]
    return [dict(zip(header, row, strict=False)) for row in rows[1:] if len(row) >= len(header) - 1]


def stat_int(row: dict[str, str], name: str) -> int:
    try:
        return int(float(row.get(name, "0") or 0))
    except ValueError:
        return 0


def read_rtt(folder: Path) -> dict[int, list[tuple[float, int]]]:
    """Per response-time timer (rtd number): (ms since SIPp start, ms) per call."""
    found: dict[int, list[tuple[float, int]]] = {}
    for path in folder.glob("*_rtt.csv"):
        for line in path.read_text(errors="replace").splitlines()[1:]:
            parts = line.split(";")
            if len(parts) < 3:
                continue
            try:
                at, value, rtd = float(parts[0]), int(float(parts[1])), int(parts[2])
            except ValueError:
                continue
            found.setdefault(rtd, []).append((at, value))
    return found


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float | None]:
    return {
        "n": float(len(values)),
        "median": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


def ensure_venv(path: Path, package: str, binary: str) -> Path:
    """A separate venv (never the project's) holding `package`; created when missing."""
    if (path / "bin" / binary).exists():
        return path
    log(f"creating {path} with {package} (pip install)")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(path)], check=True, timeout=300)
    subprocess.run(
        [str(path / "bin" / "pip"), "install", "--quiet", package], check=True, timeout=600
    )
    if not (path / "bin" / binary).exists():
        raise BenchError(f"{package} installed in {path} but {binary} is missing")
    return path


def summarize_py_spy(raw: Path, top: int = 30) -> dict[str, Any]:
    """Self and inclusive time per function on the event-loop thread (py-spy raw)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = idle = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = stack.split(";")
        if not frames or "run_forever" not in stack:
            continue  # other threads (the SQLite worker, thread pools)
        count = int(count_text)
        total += count
        names = [re.sub(r" \(/[^)]*?/(site-packages|src|python3\.\d+)/", " (", f) for f in frames]
        leaf = names[-1]
        if "select (selectors.py" in leaf:
            idle += count
        own[leaf] = own.get(leaf, 0) + count
        for name in set(names):
            inclusive[name] = inclusive.get(name, 0) + count

    def table(counter: dict[str, int]) -> list[tuple[float, str]]:
        ranked = sorted(counter.items(), key=lambda item: -item[1])[:top]
        return [(round(100.0 * n / total, 1), name) for name, n in ranked] if total else []

    return {
        "samples": total,
        "idle_pct": round(100.0 * idle / total, 1) if total else None,
        "self": table(own),
        "inclusive": table(inclusive),
    }


# --------------------------------------------------------------------------- machine


def start_py_spy(py_spy: Path, pid: int, seconds: int, folder: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling process `pid` from outside for `seconds` (200 Hz, every thread's
    raw stacks) into `folder`/py-spy.txt."""
    argv = [
        str(py_spy),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        "200",
        "--format",
        "raw",
        "--output",
        str(folder / "py-spy.txt"),
    ]
    return PROCS.start(argv, cwd=folder, log_prefix=folder / "py-spy")


def py_spy_profile(spy: subprocess.Popen[bytes] | None, folder: Path) -> dict[str, Any] | None:
    """Let `spy` (from start_py_spy) write its profile (20 s at most) and stop it; the
    profile in `folder`, summarised, or None when there is none."""
    if spy is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(20)
        PROCS.stop(spy)
    raw = folder / "py-spy.txt"
    return summarize_py_spy(raw) if raw.exists() else None


def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    mem = re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.MULTILINE)
    os_name = ""
    with contextlib.suppress(FileNotFoundError):
        pretty = re.search(r'^PRETTY_NAME="?([^"\n]+)', Path("/etc/os-release").read_text(), re.M)
        os_name = pretty.group(1) if pretty else ""

    def sysctl(name: str) -> str:
        try:
            return Path("/proc/sys/" + name.replace(".", "/")).read_text().strip()
        except OSError:
            return "?"

    return {
        "nproc": os.cpu_count(),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "mem_gib": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "kernel": platform.release(),
        "os": os_name,
        "hostname": platform.node(),
        "clk_tck": CLK_TCK,
        "rmem_default": sysctl("net.core.rmem_default"),
        "rmem_max": sysctl("net.core.rmem_max"),
    }


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --------------------------------------------------------------------------- report


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value.is_integer() and digits <= 1:
            return str(int(value))
        return f"{value:.{digits}f}"
    return str(value)


def ratio(a: Any, b: Any, digits: int = 2) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.{digits}f}"


# --------------------------------------------------------------------------- SIPp -trace_msg

_MSG_HEAD = re.compile(r"^-{20,} (\S+ \S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class TracedMessage:
    """One message of a SIPp `-trace_msg` file, with SIPp's own timestamp of its sending
    or receipt (the wall clock, microseconds; SIPp writes local time)."""

    at: float
    sent: bool
    start_line: str
    headers: dict[str, str]

    @property
    def call_id(self) -> str:
        return self.headers.get("call-id", "")

    @property
    def cseq(self) -> str:
        return self.headers.get("cseq", "")

    def is_request(self, method: str) -> bool:
        return self.start_line.startswith(method + " ")

    def is_response(self, status: int, method: str) -> bool:
        return self.start_line.startswith(f"SIP/2.0 {status}") and self.cseq.endswith(method)


def trace_messages(path: Path) -> Iterator[TracedMessage]:
    """The messages of a SIPp `-trace_msg` file in order (headers: lower-case names, the
    first value of each)."""
    text = path.read_text(errors="replace")
    heads = list(_MSG_HEAD.finditer(text))
    for index, head in enumerate(heads):
        end = heads[index + 1].start() if index + 1 < len(heads) else len(text)
        try:
            at = dt.datetime.strptime(head.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        except ValueError:
            continue
        lines = [line for line in text[head.end() : end].splitlines() if line.strip()]
        if len(lines) < 2:
            continue
        headers: dict[str, str] = {}
        for line in lines[2:]:
            name, colon, value = line.partition(":")
            if not colon or " " in name:
                break  # the body
            headers.setdefault(name.strip().lower(), value.strip())
        yield TracedMessage(at, "message sent" in lines[0], lines[1], headers)


# --------------------------------------------------------------------------- Callboard


def api_request(
    port: int, method: str, path: str, body: dict[str, Any] | None = None, *, token: str
) -> Any:
    """One request to a Callboard node's REST API on 127.0.0.1; the JSON answer."""
    request = urllib.request.Request(
        f"http://{LOCALHOST}:{port}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"X-Webitel-Access": token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def wait_http(
    port: int, process: subprocess.Popen[bytes], within: float, *, token: str, logs: Path
) -> None:
    """Until the node answers `GET /api/licenses` (or exits: then BenchError)."""
    deadline = time.monotonic() + within
    while True:
        if process.poll() is not None:
            raise BenchError(f"callboard exited with {process.returncode}; see {logs}")
        try:
            api_request(port, "GET", "/api/licenses", token=token)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise BenchError(f"callboard HTTP not up within {within:g} s") from None
            time.sleep(0.2)


def callboard_env(sip_port: int, **settings: str) -> dict[str, str]:
    """The environment of a bench `callboard serve`: ours without any CALLBOARD_
    variable, then SIP on UDP `sip_port` only, on 127.0.0.1, the bench domain without
    demo users, the bench admin token, and warnings only; `settings` add more
    (`ring_timeout="60"` is CALLBOARD_RING_TIMEOUT=60)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBOARD_")}
    env.update(
        {
            "CALLBOARD_HOST": LOCALHOST,
            "CALLBOARD_SIP_HOST": LOCALHOST,
            "CALLBOARD_SIP_UDP_PORT": str(sip_port),
            "CALLBOARD_SIP_TCP_PORT": "none",
            "CALLBOARD_SIP_TLS_PORT": "none",
            "CALLBOARD_SIP_WS_PORT": "none",
            "CALLBOARD_SIP_WSS_PORT": "none",
            "CALLBOARD_SIP_PROVIDER_PORT": "none",
            "CALLBOARD_DOMAIN": DOMAIN,
            "CALLBOARD_DEMO": "false",
            "CALLBOARD_ADMIN_TOKEN": ADMIN_TOKEN,
            "CALLBOARD_LOG_LEVEL": "warning",
        }
    )
    env.update({f"CALLBOARD_{name.upper()}": value for name, value in settings.items()})
    return env


def start_callboard(
    command: Sequence[str],
    *,
    data_dir: Path,
    http_port: int,
    sip_port: int,
    env: dict[str, str],
    folder: Path,
    log_prefix: Path,
) -> subprocess.Popen[bytes]:
    """`command --data-dir D --port P` (`callboard serve`, or a script that serves the
    same way) in `folder`; returns once its REST API answers and its SIP port is bound."""
    argv = [*command, "--data-dir", str(data_dir), "--port", str(http_port)]
    process = PROCS.start(argv, cwd=folder, env=env, log_prefix=log_prefix)
    wait_http(http_port, process, 60, token=ADMIN_TOKEN, logs=folder)
    wait_udp_bound(sip_port, process, 20)
    return process


def provision_phone_user(port: int, license_id: str, account: str, password: str) -> dict[str, Any]:
    """A SIP device `account` (digest password `password`) and the user of extension
    `account` that owns it, licensed; the user as the API answers it."""
    device = api_request(
        port,
        "POST",
        "/api/devices",
        {"name": f"bench {account}", "account": account, "password": password},
        token=ADMIN_TOKEN,
    )
    user: dict[str, Any] = api_request(
        port,
        "POST",
        "/api/users",
        {
            "name": f"Bench {account}",
            "username": f"bench{account}",
            "password": "bench-user-passw0rd",
            "extension": account,
            "roles": [{"id": 4}],
            "license": [{"id": license_id}],
            "device": {"id": device["id"]},
        },
        token=ADMIN_TOKEN,
    )
    return user


def callboard_versions(event_loop: str) -> dict[str, str]:
    """Callboard's version and commit (marked when src/ has uncommitted changes), the
    Python of the venv, and the event loop it runs on."""
    python = subprocess.run(
        [sys.executable, "-c", "import sys, callboard.cli; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout.strip()
    from importlib.metadata import version

    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        if dirty:
            commit += " + uncommitted changes in src/"
    return {
        "callboard": f"{version('callboard')} ({commit})" if commit else version("callboard"),
        "python": python,
        "event loop": event_loop,
    }
