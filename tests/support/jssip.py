"""JsSIP, the web phone's SIP stack, as a real peer in tests.

`JsSipPhone` runs one JsSIP 3.13.8 user agent in Node (tests/support/jssip/phone.cjs)
and drives it over JSON lines on stdin/stdout: commands go in, replies and JsSIP's
events come out. The signalling is the real library over a real WebSocket (subprotocol
`sip`); the media is a stub (Node has no WebRTC): a fake RTCPeerConnection writes and
reads WebRTC-looking SDP and sends no packet. Real media is for the Chromium tests.

    async with JsSipPhone("alice") as alice:
        await alice.register(uri="sip:1001@callboard.lo", ws_url="ws://127.0.0.1:5066",
                             authorization_user="1001", ha1=ha1(...), realm="callboard.lo")
        await alice.expect("registered")
        session = await alice.call("sip:1002@callboard.lo")
        await alice.expect("confirmed", session=session)

Every event the phone emitted is kept in `events`, in order. `expect()` returns the
first event of a name (and matching fields) that no earlier `expect()` returned, waiting
for it if needed; a timeout, or the Node process dying, raises `JsSipFailed` with every
event and the tail of stderr (JsSIP's debug log, `DEBUG=JsSIP:*`). The process is killed
when the `async with` block ends, and at interpreter exit as a last resort.

Node and the npm modules must be installed (`bash scripts/install-test-deps.sh`): when
they are missing, `JsSipUnavailable` says so. These tests fail, they never skip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.nodeproc import (
    Event,
    NodeProcess,
    NodeUnavailable,
    installed_version,
    node_binary,
)

HARNESS_DIR = Path(__file__).resolve().parent / "jssip"
SCRIPT = HARNESS_DIR / "phone.cjs"
JSSIP_VERSION = "3.13.8"


class JsSipUnavailable(NodeUnavailable):
    """Node, or the harness's npm modules, are missing. Install them; never skip."""


class JsSipFailed(AssertionError):
    """The phone did not do what the test expected; the message holds what it saw."""


def ha1(account: str, realm: str, password: str) -> str:
    """MD5(account:realm:password), what the Webitel engine hands its web phone (the SDK
    passes `ha1` and `realm` to JsSIP, never the password)."""
    return hashlib.md5(f"{account}:{realm}:{password}".encode()).hexdigest()  # noqa: S324


def check_installed() -> None:
    """Raise JsSipUnavailable unless node and jssip (the pinned version) are installed."""
    node_binary(JsSipUnavailable)
    version = installed_version(HARNESS_DIR, "jssip")
    if version is None:
        raise JsSipUnavailable(
            f"{HARNESS_DIR / 'node_modules' / 'jssip'} is missing: run "
            "`bash scripts/install-test-deps.sh` (it runs `npm ci --prefix tests/support/jssip`)."
        )
    if version != JSSIP_VERSION:
        raise JsSipUnavailable(
            f"jssip {version} is installed, the harness pins {JSSIP_VERSION}: run "
            "`bash scripts/install-test-deps.sh`."
        )


class JsSipPhone(NodeProcess):
    """One JsSIP UA in its own Node process. See the module documentation."""

    script = SCRIPT
    label = "JsSIP phone"
    failure_class = JsSipFailed
    stderr_title = "stderr (JsSIP debug log, tail)"

    def __init__(
        self,
        name: str = "jssip",
        *,
        insecure_tls: bool = False,
        debug: bool = True,
        timeout: float = 10.0,
    ) -> None:
        """
        Args:
            name: for messages.
            insecure_tls: accept the node's self-signed certificate (WSS): sets
                NODE_TLS_REJECT_UNAUTHORIZED=0 in this Node process's environment only.
            debug: JsSIP's debug log (every SIP message) to stderr, kept for reports.
            timeout: default seconds `expect()` and commands wait.
        """
        super().__init__(name, insecure_tls=insecure_tls, debug=debug, timeout=timeout)

    def check_installed(self) -> None:
        check_installed()

    def environment(self) -> dict[str, str]:
        env = super().environment()
        if self.debug:
            env["DEBUG"] = "JsSIP:*"
        return env

    def check_ready(self, ready: Event) -> None:
        if ready.get("jssip") != JSSIP_VERSION:
            raise JsSipFailed(
                f"{self.name}: JsSIP {ready.get('jssip')} loaded, not {JSSIP_VERSION}"
            )

    async def stop(self) -> None:
        """Stop the UA cleanly (JsSIP un-registers and closes its WebSocket), then end."""
        await self.command("stop")
        await self.wait_exit()

    # -- commands --------------------------------------------------------------------------

    async def command(self, cmd: str, *, within: float | None = None, **args: Any) -> Event:
        """Send one command and return its reply; JsSipFailed if it failed."""
        reply = await self.request(cmd, within=within, **args)
        if not reply.get("ok"):
            raise self._failure(f"{cmd} failed: {reply.get('error')}")
        return reply

    async def register(
        self,
        *,
        uri: str,
        ws_url: str,
        authorization_user: str | None = None,
        password: str | None = None,
        ha1: str | None = None,
        realm: str | None = None,
        display_name: str | None = None,
        register_expires: int | None = None,
    ) -> None:
        """Start the UA: it connects to `ws_url` and REGISTERs (await "registered" or
        "registrationFailed" with `expect`)."""
        args: dict[str, Any] = {"uri": uri, "ws_url": ws_url}
        optional = {
            "authorization_user": authorization_user,
            "password": password,
            "ha1": ha1,
            "realm": realm,
            "display_name": display_name,
            "register_expires": register_expires,
        }
        args.update({key: value for key, value in optional.items() if value is not None})
        await self.command("register", **args)

    async def call(self, target: str, *, extra_headers: Sequence[str] = ()) -> str:
        """Send an INVITE to `target`; returns the JsSIP session id."""
        reply = await self.command("call", target=target, extra_headers=list(extra_headers))
        return str(reply["session"])

    async def answer(self, session: str | None = None) -> str:
        return str((await self.command("answer", **_session(session)))["session"])

    async def reject(self, status: int = 486, session: str | None = None) -> None:
        await self.command("reject", status=status, **_session(session))

    async def hangup(self, session: str | None = None) -> None:
        await self.command("hangup", **_session(session))

    async def hold(self, session: str | None = None) -> None:
        """Hold by re-INVITE (a=sendonly); returns once the far end said 200."""
        await self.command("hold", **_session(session))

    async def unhold(self, session: str | None = None) -> None:
        await self.command("unhold", **_session(session))

    async def dtmf(
        self,
        tones: str,
        *,
        session: str | None = None,
        duration: int = 100,
        inter_tone_gap: int = 70,
    ) -> None:
        """JsSIP's sendDTMF with transportType INFO: one INFO (application/dtmf-relay)
        per tone, `duration + inter_tone_gap` ms apart."""
        await self.command(
            "dtmf",
            tones=tones,
            duration=duration,
            inter_tone_gap=inter_tone_gap,
            **_session(session),
        )

    async def info(self, content_type: str, body: str, *, session: str | None = None) -> int | None:
        """Send an in-dialog INFO; returns the status the far end answered with."""
        reply = await self.command(
            "info", content_type=content_type, body=body, **_session(session)
        )
        status = reply.get("status")
        return int(status) if status is not None else None

    async def unregister(self) -> None:
        """REGISTER with Expires 0 for our contact; returns once the server said 200."""
        await self.command("unregister")


def _session(session: str | None) -> dict[str, Any]:
    return {} if session is None else {"session": session}
