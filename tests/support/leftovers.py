"""The last resort against stray test peers: every process a test harness starts (SIPp,
baresip, Node) is noted here while it runs, and any still running when the interpreter
exits (a test run that died without cleaning up) is killed with its process group. The
harnesses start each process in a session of its own, so the group is just that peer."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal

_live: dict[int, asyncio.subprocess.Process] = {}


def track(process: asyncio.subprocess.Process) -> None:
    """Kill `process` at interpreter exit if it still runs then."""
    _live[process.pid] = process


def forget(pid: int) -> None:
    """`pid` ended, or was stopped: nothing to do for it at exit."""
    _live.pop(pid, None)


@atexit.register
def _kill_leftovers() -> None:
    for pid, process in list(_live.items()):
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
