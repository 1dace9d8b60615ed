"""What the call tests share: registered SIPp agents, the legs of a call, SIP text."""

from __future__ import annotations

import re

from callboard.calls.events import LegEnded
from callboard.sip.transport import TransportKind
from callboard.store.models import CallRecord
from tests.integration.conftest import DOMAIN, EventLog, Phone, call_records
from tests.support.server import RunningServer
from tests.support.sipp import Sipp, SippAgent, SippProcess, Transport

KINDS: dict[Transport, TransportKind] = {
    "udp": TransportKind.UDP,
    "tcp": TransportKind.TCP,
    "tls": TransportKind.TLS,
}


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
