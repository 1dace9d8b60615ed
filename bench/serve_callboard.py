"""`callboard serve` with benchmark-only switches, started by bench/sip_calls.py.

The benchmark normally runs the real entry point (`.venv/bin/callboard serve`). This
wrapper is used only when the harness is asked for something the CLI does not do, so
that the figures of a variant can be compared with the stock server without editing it:

- `CALLBOARD_BENCH_LOOP=uvloop`: run the server on uvloop's event loop (the CLI uses
  asyncio's default loop); `asyncio` forces the stock loop.
- `CALLBOARD_BENCH_CPROFILE=<file>`: run the server under cProfile and write the pstats
  file when it stops (SIGTERM, as the harness stops it). cProfile roughly doubles the
  cost of Python calls: a profiled run is for finding hot spots, never for figures.
- `CALLBOARD_BENCH_GC_LOG=1`: write every collection of the oldest generation, and any
  collection of 1 ms or more, to stderr as `gc <unix time> gen<N> <ms> ms` (the event
  loop stands still meanwhile); bench/events.py --gc-log reads them. Costs nothing else.

Usage: python bench/serve_callboard.py --data-dir DIR --port HTTP_PORT
(every other setting comes from the CALLBOARD_* environment, as for `callboard serve`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import os
import signal
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

from callboard.config import load_settings
from callboard.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = load_settings(None, data_dir=args.data_dir, port=args.port)

    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    loop_name = os.environ.get("CALLBOARD_BENCH_LOOP", "asyncio")
    if loop_name == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    elif loop_name != "asyncio":
        raise SystemExit(f"CALLBOARD_BENCH_LOOP={loop_name!r}: use asyncio or uvloop")

    if os.environ.get("CALLBOARD_BENCH_GC_LOG"):
        _log_collections()

    # uvicorn shuts down on SIGTERM, then raises it again with the handler it found:
    # make that one end the runner (so the profile below is written), not the process.
    signal.signal(signal.SIGTERM, _interrupt)

    profile_path = os.environ.get("CALLBOARD_BENCH_CPROFILE")
    profiler = cProfile.Profile() if profile_path else None
    try:
        with (
            contextlib.suppress(KeyboardInterrupt),
            asyncio.Runner(loop_factory=loop_factory) as runner,
        ):
            if profiler is not None:
                profiler.enable()
            runner.run(serve(settings))
    finally:
        if profiler is not None and profile_path:
            profiler.disable()
            profiler.dump_stats(profile_path)


def _interrupt(signum: int, frame: types.FrameType | None) -> None:
    raise KeyboardInterrupt


def _log_collections() -> None:
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        ms = 1000 * (time.perf_counter() - started[0])
        if info["generation"] == 2 or ms >= 1:
            sys.stderr.write(f"gc {time.time():.3f} gen{info['generation']} {ms:.2f} ms\n")
            sys.stderr.flush()

    gc.callbacks.append(callback)


if __name__ == "__main__":
    main()
