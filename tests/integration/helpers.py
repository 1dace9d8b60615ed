"""What the call tests share: provisioned phones, registered SIPp agents and the calls
between them, the legs of a call, SIP text."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx

from callboard.calls.events import LegEnded
from callboard.sip.transport import TransportKind
from callboard.store.models import CallRecord
from tests.integration.conftest import DOMAIN, EventLog, Phone, call_records, provision
from tests.support.jssip import JsSipPhone, ha1
from tests.support.server import RunningServer
from tests.support.sipp import Sipp, SippAgent, SippProcess, SippResult, Transport

KINDS: dict[Transport, TransportKind] = {
    "udp": TransportKind.UDP,
    "tcp": TransportKind.TCP,
    "tls": TransportKind.TLS,
}


#: The names `phones()` gives the usual extensions.
NAMES = {"1001": "Alice", "1002": "Bob", "1003": "Carol"}


async def phones(admin: httpx.AsyncClient, *extensions: str) -> list[Phone]:
    """A user with one SIP device for each extension (1001 Alice, 1002 Bob, 1003 Carol)."""
    return [await provision(admin, ext, name=NAMES.get(ext)) for ext in extensions]


def server_of(node: RunningServer, transport: Transport) -> str:
    return str(node.sip_address(KINDS[transport]))


def agent(sipp: Sipp, phone: Phone, transport: Transport = "udp") -> SippAgent:
    return sipp.agent(phone.account, phone.password, domain=DOMAIN, transport=transport)


async def answering(
    sipp: Sipp,
    node: RunningServer,
    phone: Phone,
    transport: Transport = "udp",
    scenario: str = "uas_answer.xml",
    *,
    duration_ms: int = 300,
    rtp_echo: bool = False,
) -> SippProcess:
    """A SIPp agent registered as `phone` that answers INVITEs with `scenario`."""
    return await agent(sipp, phone, transport).answer_calls(
        server=server_of(node, transport),
        scenario=scenario,
        duration_ms=duration_ms,
        rtp_echo=rtp_echo,
    )


async def call_between(
    sipp: Sipp,
    node: RunningServer,
    caller: Phone,
    callee: Phone,
    transport: Transport = "udp",
    *,
    scenario: str = "uac_call.xml",
    duration_ms: int = 500,
    answer: str = "uas_answer.xml",
    answer_ms: int = 300,
) -> tuple[SippResult, SippResult]:
    """`callee`'s SIPp registers and takes the call with the `answer` scenario (talking
    `answer_ms`); `caller`'s SIPp calls its extension with `scenario`. Returns what the
    caller's and the callee's phones saw, once the callee's has had its call."""
    phone = await answering(sipp, node, callee, transport, answer, duration_ms=answer_ms)
    result = await agent(sipp, caller, transport).call(
        server_of(node, transport), callee.extension, scenario=scenario, duration_ms=duration_ms
    )
    await phone.wait_calls(1)
    return result, await phone.stop()


async def registered_pair(
    sipp: Sipp, node: RunningServer, caller: Phone, callee: Phone
) -> tuple[SippAgent, SippProcess]:
    """Both phones registered over UDP: `caller`'s SIPp agent, ready to call, and
    `callee`'s SIPp, answering."""
    phone = await answering(sipp, node, callee)
    calling = agent(sipp, caller)
    await calling.register(server_of(node, "udp"))
    return calling, phone


async def registered_call(
    sipp: Sipp, node: RunningServer, caller: Phone, callee: Phone, *, duration_ms: int = 200
) -> SippResult:
    """`registered_pair`, and `caller` calls `callee`'s extension and hangs up after
    `duration_ms`. Returns the caller's result once the callee's phone has had the call."""
    calling, phone = await registered_pair(sipp, node, caller, callee)
    result = await calling.call(server_of(node, "udp"), callee.extension, duration_ms=duration_ms)
    await phone.wait_calls(1)
    return result


async def register_web_phone(phone: JsSipPhone, node: RunningServer, who: Phone) -> None:
    """A JsSIP phone registered over WSS as `who`'s device, configured the way the
    webitel SDK configures its web phone (`ha1` and `realm`, never the password)."""
    await phone.register(
        uri=f"sip:{who.extension}@{DOMAIN}",
        ws_url=f"wss://{node.sip_address(TransportKind.WSS)}",
        authorization_user=who.account,
        realm=DOMAIN,
        ha1=ha1(who.account, DOMAIN, who.password),
    )
    await phone.expect("registered")


def status_of(message: str) -> int:
    """The status code of a response's text."""
    return int(message.split()[1])


def header(message: str, name: str) -> list[str]:
    """Every value of header `name` in a message's text (full names only)."""
    return re.findall(rf"^{re.escape(name)}:\s*(.*?)\r?$", message, re.MULTILINE | re.IGNORECASE)


def body(message: str) -> str:
    return re.split(r"\r?\n\r?\n", message, maxsplit=1)[-1]


def finals(messages: list[str]) -> list[int]:
    """The final status codes among response texts, in order."""
    return [status_of(m) for m in messages if status_of(m) >= 200]


def ended(events: EventLog) -> dict[str, LegEnded]:
    """LegEnded by leg id."""
    return {e.leg_id: e for e in events.of(LegEnded)}


async def records_by_leg(node: RunningServer) -> dict[str, CallRecord]:
    return {record.id: record for record in await call_records(node)}


# --------------------------------------------------------------------------- the Webitel socket


async def ws_send(ws: Any, seq: int, action: str, data: dict[str, Any] | None = None) -> None:
    """One request of the Webitel WebSocket protocol, as the SDK frames it."""
    frame: dict[str, Any] = {"seq": seq, "action": action}
    if data is not None:
        frame["data"] = data
    await ws.send(json.dumps(frame))


async def ws_frame(ws: Any) -> dict[str, Any]:
    """The next frame the server sent (a reply or an event), within 10 s."""
    value: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return value
