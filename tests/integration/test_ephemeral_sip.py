"""Ephemeral SIP credentials with real peers: a browser-like client logs in (a session
token, which expires), asks the webitel socket for `user_default_device`, and its JsSIP
phone registers with what it got (never the device's own HA1), calls, and is called.
SIPp does the same with the derived password. Credentials issued already expired
(through the derivation, instead of waiting) are refused exactly like a wrong password.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import httpx
import websockets

from callboard.calls.directory import DeviceInfo
from callboard.calls.events import LegAnswered, LegEvent, LegRinging
from callboard.directory import ephemeral
from callboard.sip.location import Binding
from callboard.sip.transport import TransportKind
from tests.integration.conftest import DOMAIN, Phone, call_records, provision
from tests.integration.test_jssip import bindings_of, provision_web_phone, ws_url
from tests.support.jssip import JsSipPhone, ha1
from tests.support.server import RunningServer
from tests.support.sipp import Sipp


async def bindings(node: RunningServer, account: str) -> list[Binding]:
    assert node.telephony is not None
    return list(await node.telephony.location.lookup(f"sip:{account}@{DOMAIN}"))


async def login(node: RunningServer, who: Phone) -> str:
    """A login session's token for the user `provision_web_phone` made."""
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as anonymous:
        response = await anonymous.post(
            "/api/login", json={"username": f"web{who.extension}", "password": "user-passw0rd"}
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def web_phone_settings(node: RunningServer, token: str) -> dict[str, Any]:
    """`user_default_device` over the webitel socket, as the SDKs ask for it."""
    url = node.url.replace("http", "ws") + "/ws/websocket?application_name=callboard_sdk"
    async with websockets.connect(url) as ws:
        await ws.send(
            json.dumps({"seq": 1, "action": "authentication_challenge", "data": {"token": token}})
        )
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]
        assert frames[1] == {"status": "OK", "seq_reply": 1}, frames
        await ws.send(
            json.dumps({"seq": 2, "action": "user_default_device", "data": {"name": "webrtc"}})
        )
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply["status"] == "OK", reply
    settings: dict[str, Any] = reply["data"]
    return settings


async def start(phone: JsSipPhone, settings: dict[str, Any]) -> None:
    """Register as the SDK's phone does with these settings (webitel-sdk §9.1)."""
    await phone.register(
        uri=settings["uri"],
        ws_url=settings["server"],
        authorization_user=settings["authorization_user"],
        ha1=settings["ha1"],
        realm=settings["realm"],
        display_name=settings["display_name"],
    )


async def test_web_phones_with_ephemeral_credentials_call_each_other(
    node: RunningServer, admin: httpx.AsyncClient, events: list[LegEvent]
) -> None:
    alice = await provision_web_phone(admin, "2001", "webphone2001")
    bob = await provision_web_phone(admin, "2002", "webphone2002")
    alices = await web_phone_settings(node, await login(node, alice))
    bobs = await web_phone_settings(node, await login(node, bob))
    for who, settings in ((alice, alices), (bob, bobs)):
        expiry = settings["expires_at"] // 1000
        assert settings["authorization_user"] == f"{expiry}:{who.account}"
        assert settings["ha1"] != ha1(who.account, DOMAIN, who.password)
        assert settings["server"] == ws_url(node, TransportKind.WSS)

    async with (
        JsSipPhone("alice", insecure_tls=True) as caller,
        JsSipPhone("bob", insecure_tls=True) as callee,
    ):
        await start(caller, alices)
        await start(callee, bobs)
        assert (await caller.expect("registered"))["status"] == 200
        assert (await callee.expect("registered"))["status"] == 200
        # JsSIP sent the username unchanged, and the binding is the device's.
        assert len(await bindings_of(node, "webphone2001")) == 1
        [binding] = await bindings(node, "webphone2002")
        assert isinstance(binding.owner, DeviceInfo) and binding.owner.account == "webphone2002"

        # Alice calls Bob's extension: his web phone rings, he answers.
        session = await caller.call(f"sip:2002@{DOMAIN}")
        incoming = await callee.expect("newRTCSession", direction="incoming")
        ringing = [e for e in events if isinstance(e, LegRinging)]
        caller_leg, callee_leg = ringing
        assert (caller_leg.user_id, callee_leg.user_id) == (int(alice.user_id), int(bob.user_id))
        await callee.answer(incoming["session"])
        await caller.expect("confirmed", session=session)
        await callee.expect("confirmed", session=incoming["session"])
        await caller.hangup(session)
        await callee.expect("ended", session=incoming["session"])

        # And back: Bob calls Alice.
        back = await callee.call(f"sip:2001@{DOMAIN}")
        theirs = await caller.expect("newRTCSession", direction="incoming")
        await caller.answer(theirs["session"])
        await callee.expect("confirmed", session=back)
        await callee.hangup(back)
        await caller.expect("ended", session=theirs["session"])
    assert sum(isinstance(e, LegAnswered) for e in events) == 4

    # The history records the users and their extensions, as for any phone.
    records = await call_records(node)
    calls = sorted({(r.from_number, r.from_user_id, r.to_number, r.to_user_id) for r in records})
    assert calls == [
        ("2001", int(alice.user_id), "2002", int(bob.user_id)),
        ("2002", int(bob.user_id), "2001", int(alice.user_id)),
    ]


async def test_expired_credentials_are_refused_like_a_wrong_password(
    node: RunningServer, admin: httpx.AsyncClient
) -> None:
    web = await provision_web_phone(admin, "2001", "webphone2001")
    device = await node.runtime.directory.web_device(int(web.user_id))
    assert device is not None
    key = node.runtime.secrets.derive(ephemeral.KEY_PURPOSE)
    expired = ephemeral.issue(key, device, int(time.time()) - 1)
    settings = await web_phone_settings(node, await login(node, web))
    wrong = {**settings, "ha1": ha1(settings["authorization_user"], DOMAIN, "guessed")}
    failures = []
    for name, given in (
        ("expired", {**settings, "authorization_user": expired.username, "ha1": expired.ha1_md5}),
        ("wrong", wrong),
    ):
        async with JsSipPhone(name, insecure_tls=True) as phone:
            await start(phone, given)
            failures.append(await phone.expect("registrationFailed"))
            assert phone.find("registered") == []
    assert [(f["status"], f["cause"]) for f in failures] == [(401, "Authentication Error")] * 2
    assert await bindings_of(node, web.account) == []


async def test_sipp_registers_and_calls_with_ephemeral_credentials(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp
) -> None:
    web = await provision_web_phone(admin, "2001", "webphone2001")
    callee = await provision(admin, "1002")
    device = await node.runtime.directory.web_device(int(web.user_id))
    assert device is not None
    key = node.runtime.secrets.derive(ephemeral.KEY_PURPOSE)
    issued = ephemeral.issue(key, device, int(time.time()) + 600)
    expired = ephemeral.issue(key, device, int(time.time()) - 1)
    server = str(node.sip_address(TransportKind.UDP))

    # REGISTER as the extension, authenticating with the ephemeral username.
    registration = await sipp.start(
        "register.xml",
        server,
        service="2001",
        user=issued.username,
        password=issued.password,
        domain=DOMAIN,
    )
    (await registration.wait()).check(calls=1)
    [binding] = await bindings(node, "webphone2001")
    # The registrar granted no more than the credentials have left (SIPp asked 3600).
    assert binding.expires_at <= issued.expires_at

    answering = await sipp.agent(callee.account, callee.password, domain=DOMAIN).answer_calls(
        server=server, calls=1
    )
    caller = sipp.agent(issued.username, issued.password, domain=DOMAIN)
    placed = await caller.call(server, "1002", keys={"from_user": "2001"})
    assert placed.ok
    await answering.wait_calls(1)
    callers = {(r.from_number, r.from_user_id) for r in await call_records(node)}
    assert callers == {("2001", int(web.user_id))}

    # The same INVITE with an expired username: 407, then 407 again, like a wrong password.
    for user, password in ((expired.username, expired.password), (issued.username, "guessed")):
        refused = await sipp.agent(user, password, domain=DOMAIN).call(
            server, "1002", keys={"from_user": "2001"}, check=False, recv_timeout_ms=3000
        )
        assert not refused.ok
        # It answered the challenge, and was challenged again (with retransmissions,
        # as SIPp gives up without an ACK); nothing else.
        answered = [m for m in refused.sent("INVITE") if "Proxy-Authorization:" in m]
        assert answered and f'username="{user}"' in answered[0]
        statuses = {
            m.split("\n")[0].strip()
            for m in refused.received("SIP/2.0")
            if re.search(r"^CSeq:\s*\d+ INVITE", m, re.MULTILINE | re.IGNORECASE)
        }
        assert statuses <= {"SIP/2.0 100 Trying", "SIP/2.0 407 Proxy Authentication Required"}
        assert len(refused.received("SIP/2.0 407")) >= 2
