"""The browser benchmark (issue 5): how long a web page takes to get a working phone, how
long a click-to-call takes to ring, and how big the browser bundles are.

It runs what a newcomer runs: `callboard serve` on a fresh data folder (demo users alice
and bob made on first start, their passwords read from its output), and Debian's
Chromium, headless, with fake audio devices, driven by Playwright, on 127.0.0.1:

0. **the newcomer's path** (checked, not timed): the demo page `/demo` in two windows,
   alice and bob log in with the form, alice clicks bob's number, bob's screen pop
   rings and he answers, alice hangs up;
1. **page load → registered phone**: a fresh browser profile opens `/demo` with a kept
   session (as after a reload): the time from the navigation's start to the connector's
   `READY`, which it sends once the web phone registered over SIP-over-WebSocket (every
   byte fetched again: an empty cache each time). A third user does this, so that the
   bindings it leaves behind never ring in step 2;
2. **click-to-call → first ring**: alice's page calls `connector.call('1002')`; the time
   until her own web phone rings (the server's ringing event and the SIP INVITE both
   arrived in the browser) and until bob's page shows `RINGING` (alice's phone answered
   by itself, then the server rang bob). Alice then cancels and both see the end;
3. **bundle sizes**: the build's `build.json` (raw and gzip, level 9).

Median and p95 (nearest rank) over `--runs` repetitions (default 20). Results go to
bench/results/browser-<UTC timestamp>/ (report.md, results.json, the server's logs).

    .venv/bin/python bench/browser.py [--runs 20] [--port-base 28080]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import (
    ADMIN_TOKEN,
    PROCS,
    REPO,
    BenchError,
    Ports,
    api_request,
    fmt,
    loadavg,
    log,
    machine_info,
    summary,
    wait_http,
)
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
BUILD = REPO / "src" / "callboard" / "web" / "static" / "sdk"
CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: Step 2 watches alice's own phone: the first time each call rings on it.
WATCH_RINGS = """() => {
  window.bench = { rang: [], seen: new Set() };
  window.connector.client.on('update', (call) => {
    if (call.state === 'ringing' && call.onPhone && !window.bench.seen.has(call.id)) {
      window.bench.seen.add(call.id);
      window.bench.rang.push(performance.timeOrigin + performance.now());
    }
  });
}"""


def marks(name: str) -> str:
    """JS: how many `cti:<name>` marks the demo page made."""
    return f"() => performance.getEntriesByName('cti:{name}').length"


async def until(page: Page, expression: str, arg: Any = None, within: float = 30.0) -> Any:
    handle = await page.wait_for_function(expression, arg=arg, timeout=within * 1000)
    return await handle.json_value()


async def demo_login(context: BrowserContext, url: str, username: str, password: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{url}/demo")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-form button[type=submit]")
    await until(page, marks("READY"))
    state = await page.evaluate("() => window.connector.client.phone.state")
    if state != "registered":
        raise BenchError(f"{username}'s web phone is {state}, not registered")
    return page


async def newcomer_path(browser: Browser, url: str, users: dict[str, str]) -> dict[str, Any]:
    """Step 0: what the README promises a newcomer, checked end to end."""
    alice = await demo_login(await browser.new_context(), url, "alice", users["alice"])
    bob = await demo_login(await browser.new_context(), url, "bob", users["bob"])
    await alice.wait_for_selector("a.c2c[data-number='1002']")
    await alice.click("a.c2c[data-number='1002']")
    await until(bob, "() => !document.getElementById('pop').hidden")
    caller = await bob.inner_text("#pop-name")
    await bob.click("#pop-answer")
    await until(alice, marks("CONNECTED"))
    await until(bob, marks("CONNECTED"))
    await alice.click("#pop-hangup")
    await until(alice, marks("HUNGUP"))
    await until(bob, marks("HUNGUP"))
    events = await alice.evaluate("() => window.demo.events.map((e) => e.name)")
    for page in (alice, bob):
        await page.context.close()
    return {"ok": caller == "Alice Demo", "bob_saw": caller, "alice_events": events}


async def page_load_runs(browser: Browser, url: str, token: str, runs: int) -> dict[str, Any]:
    """Step 1: navigation start → READY (phone registered), a fresh profile each time."""
    kept = json.dumps({"server": url, "token": token})
    ready: list[float] = []
    logged_in: list[float] = []
    loaded: list[float] = []
    for run in range(runs + 1):
        context = await browser.new_context()
        await context.add_init_script(f"localStorage.setItem('callboard.cti', {json.dumps(kept)})")
        page = await context.new_page()
        await page.goto(f"{url}/demo")
        await until(page, marks("READY"))
        times = await page.evaluate(
            """() => ({
              ready: performance.getEntriesByName('cti:READY')[0].startTime,
              loggedIn: performance.getEntriesByName('cti:LOGGED_IN')[0].startTime,
              loaded: performance.getEntriesByType('navigation')[0].loadEventEnd,
              phone: window.connector.client.phone.state,
            })"""
        )
        if times["phone"] != "registered":
            raise BenchError(f"run {run}: the phone is {times['phone']}, not registered")
        await context.close()
        if run == 0:
            continue  # warm-up: the server's first requests, Chromium's first profile
        ready.append(times["ready"])
        logged_in.append(times["loggedIn"])
        loaded.append(times["loaded"])
    return {
        "page_loaded_ms": summary(loaded),
        "connected_ms": summary(logged_in),
        "registered_ms": summary(ready),
    }


async def click_to_call_runs(
    browser: Browser, url: str, users: dict[str, str], runs: int
) -> dict[str, Any]:
    """Step 2: `connector.call('1002')` → alice's phone rings → bob's page rings."""
    alice = await demo_login(await browser.new_context(), url, "alice", users["alice"])
    bob = await demo_login(await browser.new_context(), url, "bob", users["bob"])
    await alice.evaluate(WATCH_RINGS)
    own: list[float] = []
    destination: list[float] = []
    for run in range(runs + 1):
        started = await alice.evaluate(
            "() => { const t = performance.timeOrigin + performance.now();"
            " window.connector.call('1002'); return t; }"
        )
        await until(alice, "(n) => window.bench.rang.length === n", run + 1)
        await until(bob, f"(n) => ({marks('RINGING')})() === n", run + 1)
        rang = await alice.evaluate("(n) => window.bench.rang[n]", run)
        bob_rang = await bob.evaluate(
            "(n) => performance.timeOrigin + performance.getEntriesByName('cti:RINGING')[n]"
            ".startTime",
            run,
        )
        # Alice gives up while bob rings: her call is cancelled, bob's hung up.
        call_id = await alice.evaluate(
            "() => window.demo.events.filter((e) => e.name === 'RINGING').at(-1).call.id"
        )
        await alice.evaluate("(id) => window.connector.terminate(id)", call_id)
        await until(alice, f"(n) => ({marks('CANCEL')})() === n", run + 1)
        await until(bob, f"(n) => ({marks('HUNGUP')})() === n", run + 1)
        if run == 0:
            continue
        own.append(rang - started)
        destination.append(bob_rang - started)
    for page in (alice, bob):
        await page.context.close()
    return {"own_phone_rings_ms": summary(own), "destination_rings_ms": summary(destination)}


async def measure(url: str, users: dict[str, str], third: str, runs: int) -> dict[str, Any]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            log("step 0: the newcomer's path on /demo")
            newcomer = await newcomer_path(browser, url, users)
            log(f"step 1: page load -> registered phone, {runs} runs")
            load = await page_load_runs(browser, url, third, runs)
            log(f"step 2: click-to-call -> first ring, {runs} runs")
            ring = await click_to_call_runs(browser, url, users, runs)
            version = browser.version
        finally:
            await browser.close()
    return {"newcomer": newcomer, "page_load": load, "click_to_call": ring, "chromium": version}


def start_server(out: Path, ports: Ports) -> tuple[subprocess.Popen[bytes], int, dict[str, str]]:
    """`callboard serve` on a fresh data folder, as the README's run command starts it."""
    http = ports.take("http")
    env = {
        **os.environ,
        "CALLBOARD_SIP_UDP_PORT": str(ports.take("sip-udp")),
        "CALLBOARD_SIP_TCP_PORT": "none",
        "CALLBOARD_SIP_WS_PORT": str(ports.take("sip-ws")),
        "CALLBOARD_SIP_PROVIDER_PORT": "none",
        "CALLBOARD_ADMIN_TOKEN": ADMIN_TOKEN,
        "CALLBOARD_LOG_LEVEL": "warning",
    }
    data = Path(tempfile.mkdtemp(prefix="callboard-browser-bench-"))
    argv = [str(REPO / ".venv" / "bin" / "callboard"), "serve", "--port", str(http)]
    process = PROCS.start(
        [*argv, "--data-dir", str(data)], cwd=REPO, log_prefix=out / "callboard", env=env
    )
    wait_http(http, process, 60, token=ADMIN_TOKEN, logs=out)
    printed = (out / "callboard.stdout.txt").read_text()
    users = dict(re.findall(r"demo user\s+(\w+) / (\S+),", printed))
    if set(users) != {"alice", "bob"}:
        raise BenchError(f"the first start printed no demo users: see {out}")
    return process, http, users


def third_user_token(port: int) -> str:
    """A user with a web phone for step 1, and a login session of theirs."""
    licenses = api_request(port, "GET", "/api/licenses", token=ADMIN_TOKEN)["items"]
    device = api_request(
        port,
        "POST",
        "/api/devices",
        {"name": "bench", "account": "1003", "password": "bench-sip-secret"},
        token=ADMIN_TOKEN,
    )
    api_request(
        port,
        "POST",
        "/api/users",
        {
            "name": "Carol Bench",
            "username": "carol",
            "password": "carol-bench-secret",
            "extension": "1003",
            "roles": [{"id": 4}],
            "license": [{"id": licenses[0]["id"]}],
            "device": {"id": device["id"]},
        },
        token=ADMIN_TOKEN,
    )
    session = api_request(
        port,
        "POST",
        "/api/login",
        {"username": "carol", "password": "carol-bench-secret"},
        token="",
    )
    token: str = session["access_token"]
    return token


def versions() -> dict[str, str]:
    node = shutil.which("node")
    out: dict[str, str] = {}
    if node:
        out["node"] = subprocess.run(
            [node, "--version"], capture_output=True, text=True, check=False, timeout=30
        ).stdout.strip()
    return out


def report(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        "# Browser benchmark",
        "",
        f"{results['started']} · {machine['cpu_model']}, {machine['nproc']} CPUs,"
        f" {machine['mem_gib']} GiB, {machine['os']}, kernel {machine['kernel']} ·"
        f" Chromium {results['chromium']} (headless, fake audio) · Node"
        f" {results['versions'].get('node', '?')} · load average {results['loadavg']}"
        " (the machine is shared)",
        "",
        f"Newcomer's path on /demo (log in, click-to-call, answer, hang up): "
        f"{'ok' if results['newcomer']['ok'] else 'FAILED'}",
        "",
        f"| what (ms, {results['runs']} runs after one warm-up) | median | p95 | max |",
        "|---|---|---|---|",
    ]
    rows = [
        ("page load → `load` event (demo page)", results["page_load"]["page_loaded_ms"]),
        ("page load → API connected (`LOGGED_IN`)", results["page_load"]["connected_ms"]),
        ("page load → phone registered (`READY`)", results["page_load"]["registered_ms"]),
        (
            "click-to-call → caller's web phone rings",
            results["click_to_call"]["own_phone_rings_ms"],
        ),
        ("click-to-call → callee's page rings", results["click_to_call"]["destination_rings_ms"]),
    ]
    for name, stats in rows:
        lines.append(
            f"| {name} | {fmt(stats['median'])} | {fmt(stats['p95'])} | {fmt(stats['max'])} |"
        )
    lines += ["", "| bundle | bytes | gzip -9 |", "|---|---|---|"]
    for name, size in sorted(results["bundles"].items()):
        lines.append(f"| {name} | {size['bytes']:,} | {size['gzip']:,} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--port-base", type=int, default=28080)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise BenchError(f"{CHROMIUM} is missing: bash scripts/install-test-deps.sh")
    if not (BUILD / "build.json").is_file():
        raise BenchError("the browser SDK is not built: bash scripts/setup.sh")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = args.out or REPO / "bench" / "results" / f"browser-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    process, port, users = start_server(out, Ports(args.port_base))
    try:
        url = f"http://127.0.0.1:{port}"
        token = third_user_token(port)
        measured = asyncio.run(measure(url, users, token, args.runs))
    finally:
        PROCS.stop(process)
    results = {
        "started": started,
        "runs": args.runs,
        "machine": machine_info(),
        "loadavg": loadavg(),
        "versions": versions(),
        "bundles": json.loads((BUILD / "build.json").read_text())["sizes"],
        **measured,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    (out / "report.md").write_text(text)
    print(text)
    log(f"results in {out}")


if __name__ == "__main__":
    main()
