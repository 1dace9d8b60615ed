"""The README's run command and the admin commands, as a newcomer would use them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callboard.config import load_settings
from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parent.parent
CALLBOARD = str(Path(sys.executable).parent / "callboard")


class Server:
    def __init__(self, process: subprocess.Popen[str], url: str, output: list[str]) -> None:
        self.process = process
        self.url = url
        self.output = output


def _start(data_dir: Path, env: dict[str, str]) -> Server:
    port = free_port()
    process = subprocess.Popen(
        ["bash", "scripts/run.sh", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 120
    for line in process.stdout:
        output.append(line)
        if "Callboard is listening on" in line:
            break
        if time.monotonic() > deadline:
            break
    else:
        pytest.fail("server exited:\n" + "".join(output))
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/api/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return Server(process, url, output)


def _stop(server: Server) -> None:
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def test_run_command_first_start_and_restart(data_dir: Path) -> None:
    env = {"CALLBOARD_ADMIN_TOKEN": "fixed-admin-token-for-tests-0001"}
    server = _start(data_dir, env)
    try:
        banner = "".join(server.output)
        assert "First start" in banner and "fixed-admin-token-for-tests-0001" in banner
        headers = {"X-Webitel-Access": env["CALLBOARD_ADMIN_TOKEN"]}
        users = httpx.get(f"{server.url}/api/users", headers=headers).json()["items"]
        assert {u["username"] for u in users} == {"admin", "alice", "bob"}
        # The demo users' passwords printed on first start log them in.
        match = re.search(r"demo user\s+alice / (\S+),", banner)
        assert match, banner
        login = httpx.post(
            f"{server.url}/api/login", json={"username": "alice", "password": match.group(1)}
        )
        assert login.status_code == 200, login.text
        devices = httpx.get(f"{server.url}/api/devices", headers=headers).json()["items"]
        assert {d["account"] for d in devices} == {"1001", "1002"}

        # An admin command against the same data directory, while the server runs.
        created = subprocess.run(
            [
                CALLBOARD,
                "domain",
                "create",
                "acme.lo",
                "--data-dir",
                str(data_dir),
                "--admin-password",
                "acme-admin-passw0rd",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        token = re.search(r"admin token\s+(\S+)", created)
        assert token, created
        info = httpx.get(f"{server.url}/api/userinfo", headers={"X-Webitel-Access": token.group(1)})
        assert info.json()["domain"] == "acme.lo"
        new = subprocess.run(
            [CALLBOARD, "token", "create", "--username", "alice", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert (
            httpx.get(f"{server.url}/api/userinfo", headers={"X-Webitel-Access": new}).json()[
                "username"
            ]
            == "alice"
        )
    finally:
        _stop(server)

    again = _start(data_dir, {})
    try:
        assert "First start" not in "".join(again.output)
        assert httpx.get(f"{again.url}/api/userinfo", headers=headers).status_code == 200
    finally:
        _stop(again)


def test_settings_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "callboard.yaml"
    config.write_text("port: 9001\nhost: 0.0.0.0\ndomain: From-File.lo\n")
    assert load_settings(config).port == 9001
    assert load_settings(config).domain == "from-file.lo"
    monkeypatch.setenv("CALLBOARD_PORT", "9002")
    assert load_settings(config).port == 9002
    assert load_settings(config, port=9003).port == 9003
    assert load_settings(config).host == "0.0.0.0"
    monkeypatch.setenv("CALLBOARD_DATABASE_URL", "postgresql://u@h/db")
    assert load_settings().effective_database_url == "postgresql://u@h/db"
