"""A real softphone in tests: baresip 1.0, scripted over its ctrl_tcp module.

Why baresip (see reference/media.md, Q4 and Q5): it is a Debian package whose
`baresip-core` holds every module needed here (no GTK or GStreamer), it needs no sound
card, it registers with digest auth, calls, answers, holds (re-INVITE a=sendonly), sends
DTMF (RFC 4733 telephone-event) and hangs up, and its ctrl_tcp module gives a
machine-readable interface: netstring-framed JSON commands, responses and events
(REGISTER_OK, CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED with the SIP reason...). The
alternatives were weaker for scripting: linphonec is driven by parsing human text on
stdin; the only pjsua2 wheel on PyPI (pjsua2-python) has placeholder metadata and
bundles OpenSSL 1.0.2, and the pjsua2 sdist does not build.

Each `Softphone` runs one baresip process with its own config folder, on free ports
of 127.0.0.1 (SIP on UDP and TCP port P, TLS on P+1, the control socket, RTP), and is
killed when its `async with` block ends (and, as a last resort, at interpreter exit).
Settings that matter, each found the hard way (media.md):
- `net_interface 127.0.0.1`: libre ignores loopback otherwise and may pick eth0.
- `audio_player aubridge,<name>`: no sound card; `alsa,null` busy-loops a whole core.
- `audio_source ausine,440` with 48 kHz stereo: a real tone goes out as PCMU.
- the TLS listener takes sip_listen's port + 1, so P+1 must be free too.

Without `register()` the phone still has a local account, sip:<user>@127.0.0.1:<P>,
so it can call a URI directly (`call("sip:bob@127.0.0.1:5070")`) and be called at
`softphone.uri`. `register()` adds an account registered at a server and makes it
the one used for calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from tests.support import leftovers
from tests.support.sipp import LOCALHOST, free_port

Transport = Literal["udp", "tcp", "tls"]


class SoftphoneError(AssertionError):
    """The softphone did not do what the test asked; the message says what it saw."""


def baresip_binary() -> str:
    path = shutil.which("baresip")
    if path is None:
        raise SoftphoneError(
            "`baresip` was not found on PATH. The softphone tests drive the real baresip "
            "(Debian package baresip-core); install it with `bash scripts/install-test-deps.sh`."
        )
    return path


def self_signed_pem(path: Path) -> Path:
    """Write a self-signed certificate for 127.0.0.1 and its key into one PEM file, the
    form baresip's `sip_certificate` wants. baresip does not verify the far end's
    certificate, so a Callboard with a self-signed one is fine too."""
    key, cert = path.with_suffix(".key"), path.with_suffix(".crt")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    path.write_text(cert.read_text() + key.read_text())
    return path


@dataclass(frozen=True)
class SoftphoneEvent:
    """One ctrl_tcp event, e.g. type="CALL_CLOSED", param="486 Busy Here"."""

    type: str
    call_id: str | None = None
    peer_uri: str | None = None
    direction: str | None = None
    account: str | None = None
    param: str | None = None
    raw: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def code(self) -> int | None:
        """The SIP status code in `param`, when there is one ("486 Busy Here" -> 486)."""
        match = re.match(r"(\d{3})\b", self.param or "")
        return int(match.group(1)) if match else None

    @property
    def reason(self) -> str:
        return self.param or ""

    @classmethod
    def from_json(cls, data: dict[str, object]) -> SoftphoneEvent:
        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        return cls(
            type=str(data.get("type", "")),
            call_id=text("id"),
            peer_uri=text("peeruri"),
            direction=text("direction"),
            account=text("accountaor"),
            param=text("param"),
            raw=data,
        )


def _config(
    sip_port: int, ctrl_port: int, rtp: tuple[int, int], name: str, tls: Path | None
) -> str:
    lines = [
        "poll_method epoll",
        f"sip_listen {LOCALHOST}:{sip_port}",
        f"net_interface {LOCALHOST}",
        f"rtp_ports {rtp[0]}-{rtp[1]}",
        f"audio_player aubridge,{name}-nowhere",
        f"audio_alert aubridge,{name}-nowhere",
        "audio_source ausine,440",
        "ausrc_srate 48000",
        "ausrc_channels 2",
        "module_path /usr/lib/baresip/modules",
        "module g711.so",
        "module aubridge.so",
        "module ausine.so",
        "module account.so",
        "module_app menu.so",
        "module_app ctrl_tcp.so",
        f"ctrl_tcp_listen {LOCALHOST}:{ctrl_port}",
    ]
    if tls is not None:
        lines.append(f"sip_certificate {tls}")
    return "\n".join(lines) + "\n"


class Softphone:
    """One baresip user agent. Use as `async with Softphone(tmp_path / "alice") as phone:`.

    Every wait has a bound (`within`, seconds) and raises SoftphoneError with the events
    seen so far when it runs out. Events are kept in order; each `wait_*` returns the
    first matching event not returned before, so waits can come after the fact.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        user: str = "softphone",
        auto_answer: bool = False,
        tls_certificate: Path | None = None,
    ) -> None:
        """`tls_certificate` is a PEM file holding the certificate and its key, for the
        TLS listener on `sip_port + 1` (only needed to be called over TLS)."""
        self.workdir = workdir
        self.user = user
        self.auto_answer = auto_answer
        self.tls_certificate = tls_certificate
        self.sip_port = 0
        self.ctrl_port = 0
        self.events: list[SoftphoneEvent] = []
        self._taken: set[int] = set()
        self._changed = asyncio.Event()
        self._process: asyncio.subprocess.Process | None = None
        self._outputs: list[IO[bytes]] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, object]]] = {}
        self._tokens = 0
        self._registered_aor: str | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Softphone:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def uri(self) -> str:
        """Where to call this phone directly (its local account)."""
        return f"sip:{self.user}@{LOCALHOST}:{self.sip_port}"

    @property
    def output(self) -> str:
        """What baresip printed (its log), for failure messages."""
        path = self.workdir / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def start(self, within: float = 10.0) -> None:
        binary = baresip_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_port(span=2)  # UDP/TCP on P, TLS on P+1
        self.ctrl_port = free_port(tcp=True)
        rtp_base = free_port(span=20, even=True)
        name = f"{self.user}-{self.sip_port}"
        (self.workdir / "config").write_text(
            _config(self.sip_port, self.ctrl_port, (rtp_base, rtp_base + 19), name,
                    self.tls_certificate)
        )  # fmt: skip
        answer = "auto" if self.auto_answer else "manual"
        (self.workdir / "accounts").write_text(f"<{self.uri}>;regint=0;answermode={answer}\n")
        log = (self.workdir / "baresip.log").open("wb")
        self._outputs = [log]
        self._process = await asyncio.create_subprocess_exec(
            binary,
            "-f",
            str(self.workdir),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        leftovers.track(self._process)
        deadline = time.monotonic() + within
        while True:
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    LOCALHOST, self.ctrl_port
                )
                break
            except OSError:
                if self._process.returncode is not None or time.monotonic() > deadline:
                    await self.close()
                    raise SoftphoneError(
                        f"baresip did not open its control port {self.ctrl_port}\n{self.output}"
                    ) from None
                await asyncio.sleep(0.05)
        self._read_task = asyncio.create_task(self._read_loop())
        await self.command("reginfo")  # answers once the UA stack is up

    async def close(self, within: float = 5.0) -> None:
        """Quit baresip (it unregisters and hangs up), killing it if it lingers."""
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(SoftphoneError, ConnectionError, TimeoutError):
                await self.command("quit", within=2.0)
            try:
                await asyncio.wait_for(process.wait(), within)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._read_task
        if process is not None:
            leftovers.forget(process.pid)
        for output in self._outputs:
            output.close()
        self._outputs = []

    # ------------------------------------------------------------------ control socket

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                size = await self._reader.readuntil(b":")
                payload = await self._reader.readexactly(int(size[:-1]))
                await self._reader.readexactly(1)  # the netstring's trailing ","
                data = json.loads(payload)
                if not isinstance(data, dict):
                    continue
                if data.get("event"):
                    self.events.append(SoftphoneEvent.from_json(data))
                    self._changed.set()
                elif data.get("response"):
                    future = self._pending.pop(str(data.get("token")), None)
                    if future is not None and not future.done():
                        future.set_result(data)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(SoftphoneError("baresip closed its control socket"))
            self._changed.set()

    async def command(self, name: str, params: str = "", within: float = 5.0) -> str:
        """Run a baresip command (as typed in its menu: "dial", "accept", "hold"...);
        returns its text output, raises SoftphoneError if baresip says it failed."""
        if self._writer is None:
            raise SoftphoneError("the softphone is not started")
        self._tokens += 1
        token = str(self._tokens)
        future: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        self._pending[token] = future
        body = json.dumps({"command": name, "params": params, "token": token}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()
        try:
            response = await asyncio.wait_for(future, within)
        except TimeoutError:
            raise SoftphoneError(f"baresip did not answer {name!r} within {within:g} s") from None
        data = str(response.get("data", ""))
        if not response.get("ok"):
            raise SoftphoneError(f"baresip refused {name} {params}: {data}")
        return data

    # ------------------------------------------------------------------ events

    async def wait_event(
        self,
        *types: str,
        within: float = 10.0,
        where: Callable[[SoftphoneEvent], bool] | None = None,
    ) -> SoftphoneEvent:
        """The first event of one of `types` (matching `where`) not returned before."""
        deadline = time.monotonic() + within
        while True:
            for index, event in enumerate(self.events):
                if index in self._taken or event.type not in types:
                    continue
                if where is None or where(event):
                    self._taken.add(index)
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self._read_task is not None and self._read_task.done()):
                seen = "\n".join(f"  {e.type} {e.param or ''}" for e in self.events)
                raise SoftphoneError(
                    f"{self.user}: no {' or '.join(types)} within {within:g} s; events:\n"
                    f"{seen or '  (none)'}\n--- baresip output ---\n{self.output[-5000:]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_incoming(self, within: float = 10.0) -> SoftphoneEvent:
        return await self.wait_event("CALL_INCOMING", within=within)

    async def wait_established(self, within: float = 10.0) -> SoftphoneEvent:
        """The call is answered (2xx/ACK). A call that ends first raises, with its reason."""
        event = await self.wait_event("CALL_ESTABLISHED", "CALL_CLOSED", within=within)
        if event.type == "CALL_CLOSED":
            raise SoftphoneError(f"{self.user}: call closed before it was answered: {event.param}")
        return event

    async def wait_closed(self, within: float = 10.0) -> SoftphoneEvent:
        """The call ended; `.param` is baresip's reason ("486 Busy Here", "Connection
        reset by peer" for a BYE from the far end) and `.code` its SIP code if any."""
        return await self.wait_event("CALL_CLOSED", within=within)

    async def wait_dtmf(self, within: float = 10.0) -> str:
        """The next DTMF digit received (RFC 4733 telephone-event)."""
        event = await self.wait_event("CALL_DTMF_START", within=within)
        return event.param or ""

    # ------------------------------------------------------------------ actions

    async def register(
        self,
        server: str,
        user: str,
        password: str,
        *,
        domain: str | None = None,
        transport: Transport = "udp",
        expires: int = 3600,
        within: float = 10.0,
    ) -> SoftphoneEvent:
        """Register sip:<user>@<domain> (domain: the server's host by default) through
        `server` ("host:port"), answering the digest challenge. Waits for the result:
        returns the REGISTER_OK event, raises SoftphoneError on REGISTER_FAIL. The new
        account becomes the one used by `call()`."""
        domain = domain or server.split(":")[0]
        aor = f"sip:{user}@{domain}"
        answer = "auto" if self.auto_answer else "manual"
        account = (
            f"<{aor}>;auth_user={user};auth_pass={password};"
            f'outbound="sip:{server};transport={transport}";regint={expires};'
            f"answermode={answer}"
        )
        await self.command("uanew", account)
        event = await self.wait_event(
            "REGISTER_OK",
            "REGISTER_FAIL",
            within=within,
            where=lambda e: (e.account or "").split(";")[0] == aor,
        )
        if event.type == "REGISTER_FAIL":
            raise SoftphoneError(f"registration of {aor} at {server} failed: {event.param}")
        await self.command("uafind", aor)  # make it the current account
        self._registered_aor = aor
        return event

    async def unregister(self, within: float = 10.0) -> None:
        """Delete the registered account (baresip sends REGISTER with Expires: 0)."""
        if self._registered_aor is not None:
            await self.command("uadel", self._registered_aor, within=within)
            self._registered_aor = None
            await self.command("uafind", self.uri)

    async def call(self, uri: str) -> None:
        """Dial `uri` from the current account. Follow with `wait_established()` (or
        `wait_closed()` for a call that should fail)."""
        await self.command("dial", uri)

    async def answer(self, within: float = 10.0) -> SoftphoneEvent:
        """Accept the ringing incoming call; returns once it is established."""
        await self.command("accept")
        return await self.wait_established(within=within)

    async def hangup(self, within: float = 10.0) -> SoftphoneEvent:
        """Hang up the current call: BYE when established, CANCEL while calling out, and
        "486 Rejected" for a ringing incoming call."""
        await self.command("hangup")
        return await self.wait_closed(within=within)

    async def send_dtmf(self, digits: str) -> None:
        """Send DTMF digits as RFC 4733 telephone-events on the current call."""
        if not re.fullmatch(r"[0-9*#A-D]+", digits):
            raise ValueError(f"not DTMF digits: {digits!r}")
        await self.command("sndcode", digits)

    async def hold(self, within: float = 10.0) -> SoftphoneEvent:
        """Put the current call on hold (re-INVITE with a=sendonly); returns when the
        answer SDP is in (the CALL_REMOTE_SDP event)."""
        await self.command("hold")
        return await self._remote_answer(within)

    async def resume(self, within: float = 10.0) -> SoftphoneEvent:
        """Take the call off hold (re-INVITE with a=sendrecv)."""
        await self.command("resume")
        return await self._remote_answer(within)

    async def _remote_answer(self, within: float) -> SoftphoneEvent:
        # The initial answer's CALL_REMOTE_SDP came before CALL_ESTABLISHED; take those
        # out of the way so this waits for the re-INVITE's answer.
        established = max(
            (i for i, e in enumerate(self.events) if e.type == "CALL_ESTABLISHED"), default=-1
        )
        self._taken.update(
            i for i, e in enumerate(self.events[: established + 1]) if e.type == "CALL_REMOTE_SDP"
        )
        return await self.wait_event(
            "CALL_REMOTE_SDP", within=within, where=lambda e: e.param == "answer"
        )
