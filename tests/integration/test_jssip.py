"""JsSIP, the web phone's SIP stack, against a running Callboard node.

Real JsSIP 3.13.8 in Node over real WebSockets (subprotocol `sip`), configured the way
the webitel SDK configures it (reference/webitel-sdk.md §9.1): `ha1` and `realm` instead
of a password, the device account as `authorization_user`, `sip:<extension>@<domain>` as
its URI, session timers on. The media is a stub in Node (tests/support/webrtc-stub.cjs):
what is checked here is signalling; Chromium runs the real media elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from callboard.calls.events import (
    LegAnswered,
    LegDtmf,
    LegEnded,
    LegEvent,
    LegHeld,
    LegResumed,
    LegRinging,
)
from callboard.sip.location import BindingChange, BindingEvent, RemovalReason
from callboard.sip.transport import TransportKind
from tests.integration.conftest import DOMAIN, Phone, provision
from tests.support.jssip import JsSipPhone, ha1
from tests.support.server import RunningServer
from tests.support.sipp import Sipp


async def provision_web_phone(admin: httpx.AsyncClient, extension: str, account: str) -> Phone:
    """A user with extension `extension` whose device account is `account` (another
    name): the web phone registers as sip:<extension>@<domain> and authenticates as the
    account, like the webitel SDK's JsSIP configuration."""
    password = f"pw-{account}-secret"
    device = await admin.post(
        "/api/devices",
        json={"name": f"web phone {extension}", "account": account, "password": password},
    )
    assert device.status_code == 200, device.text
    licenses = (await admin.get("/api/licenses")).json()["items"]
    user = await admin.post(
        "/api/users",
        json={
            "name": f"Web {extension}",
            "username": f"web{extension}",
            "password": "user-passw0rd",
            "extension": extension,
            "roles": [{"id": 4}],
            "license": [{"id": licenses[0]["id"]}],
            "device": {"id": device.json()["id"]},
        },
    )
    assert user.status_code == 200, user.text
    return Phone(user.json()["id"], device.json()["id"], extension, account, password)


def ws_url(node: RunningServer, kind: TransportKind = TransportKind.WS) -> str:
    scheme = "wss" if kind is TransportKind.WSS else "ws"
    return f"{scheme}://{node.sip_address(kind)}"


async def register(
    phone: JsSipPhone,
    node: RunningServer,
    who: Phone,
    kind: TransportKind = TransportKind.WS,
    *,
    password: str | None = None,
) -> None:
    """Register as the webitel SDK does (uri = extension, authorization_user = account,
    ha1 + realm), or with a plain `password` when given."""
    await phone.register(
        uri=f"sip:{who.extension}@{DOMAIN}",
        ws_url=ws_url(node, kind),
        authorization_user=who.account,
        realm=DOMAIN,
        display_name=f"Phone {who.extension}",
        ha1=None if password is not None else ha1(who.account, DOMAIN, who.password),
        password=password,
    )


def binding_watch(
    node: RunningServer, predicate: Callable[[BindingEvent], bool]
) -> asyncio.Future[BindingEvent]:
    """A future for the first binding change that satisfies `predicate`."""
    assert node.telephony is not None
    location = node.telephony.location
    future: asyncio.Future[BindingEvent] = asyncio.get_running_loop().create_future()

    def listener(event: BindingEvent) -> None:
        if not future.done() and predicate(event):
            future.set_result(event)

    location.add_listener(listener)
    future.add_done_callback(lambda _f: location.remove_listener(listener))
    return future


async def bindings_of(node: RunningServer, account: str) -> list[object]:
    assert node.telephony is not None
    return list(await node.telephony.location.lookup(f"sip:{account}@{DOMAIN}"))


# -- registration ---------------------------------------------------------------------------


async def test_register_over_ws_with_ha1_then_unregister(
    node: RunningServer, admin: httpx.AsyncClient
) -> None:
    alice = await provision(admin, "1001")
    async with JsSipPhone("alice") as phone:
        await register(phone, node, alice)
        registered = await phone.expect("registered")
        assert registered["status"] == 200
        [contact] = registered["contacts"]
        assert ".invalid;transport=ws>" in contact and "reg-id=1" in contact

        assert node.telephony is not None
        [binding] = await node.telephony.location.lookup(f"sip:1001@{DOMAIN}")
        assert binding.transport is TransportKind.WS
        assert binding.uri.host.endswith(".invalid") and binding.requires_flow
        assert binding.reg_id == 1 and binding.instance is not None
        assert binding.user_agent == "Webitel-Phone/3.13.8"

        await phone.unregister()
        assert (await phone.expect("unregistered"))["status"] == 200
        assert await bindings_of(node, "1001") == []


async def test_register_over_wss_with_ha1(node: RunningServer, admin: httpx.AsyncClient) -> None:
    alice = await provision(admin, "1001")
    async with JsSipPhone("alice", insecure_tls=True) as phone:
        await register(phone, node, alice, TransportKind.WSS)
        assert (await phone.expect("registered"))["status"] == 200
        assert node.telephony is not None
        [binding] = await node.telephony.location.lookup(f"sip:1001@{DOMAIN}")
        assert binding.transport is TransportKind.WSS

        # Stopping the UA (a page that unloads cleanly) un-registers before it closes.
        removed = binding_watch(node, lambda e: e.change is BindingChange.REMOVED)
        await phone.stop()
        assert (await asyncio.wait_for(removed, 10)).reason is RemovalReason.UNREGISTERED
        assert phone.find("unregistered") and phone.find("disconnected")


async def test_register_with_plain_password(node: RunningServer, admin: httpx.AsyncClient) -> None:
    alice = await provision(admin, "1001")
    async with JsSipPhone("alice") as phone:
        await register(phone, node, alice, password=alice.password)
        assert (await phone.expect("registered"))["status"] == 200


async def test_register_as_extension_authenticating_as_device_account(
    node: RunningServer, admin: httpx.AsyncClient
) -> None:
    # The webitel engine's web phone config: uri sip:<extension>@<domain>,
    # authorization_user = the device account, ha1 = md5(account:domain:password).
    web = await provision_web_phone(admin, "2001", "webphone2001")
    async with JsSipPhone("web") as phone:
        await register(phone, node, web)
        assert (await phone.expect("registered"))["status"] == 200
        # The binding is kept under the account's AOR, whatever alias the phone used.
        assert len(await bindings_of(node, "webphone2001")) == 1
        assert await bindings_of(node, "2001") == []


async def test_wrong_password_fails_registration(
    node: RunningServer, admin: httpx.AsyncClient
) -> None:
    alice = await provision(admin, "1001")
    async with JsSipPhone("alice") as phone:
        await phone.register(
            uri=f"sip:1001@{DOMAIN}",
            ws_url=ws_url(node),
            authorization_user="1001",
            realm=DOMAIN,
            ha1=ha1("1001", DOMAIN, "not-the-password"),
        )
        failed = await phone.expect("registrationFailed")
        assert failed["status"] == 401 and failed["cause"] == "Authentication Error"
        assert phone.find("registered") == []
    assert await bindings_of(node, alice.account) == []


async def test_dropped_websocket_loses_its_registration(
    node: RunningServer, admin: httpx.AsyncClient
) -> None:
    alice = await provision(admin, "1001")
    bob = await provision_web_phone(admin, "1002", "webphone1002")
    async with JsSipPhone("alice") as caller, JsSipPhone("bob") as callee:
        await register(caller, node, alice)
        await register(callee, node, bob)
        await caller.expect("registered")
        await callee.expect("registered")
        assert len(await bindings_of(node, "webphone1002")) == 1

        removed = binding_watch(
            node,
            lambda e: e.change is BindingChange.REMOVED and e.aor == f"sip:webphone1002@{DOMAIN}",
        )
        await callee.kill()  # the tab is gone: its WebSocket drops without an un-REGISTER
        event = await asyncio.wait_for(removed, 10)
        assert event.reason is RemovalReason.FLOW_CLOSED
        assert await bindings_of(node, "webphone1002") == []

        # The server goes on: the other phone is still registered, and a call to the
        # phone that went away is answered "not registered".
        assert len(await bindings_of(node, "1001")) == 1
        session = await caller.call(f"sip:1002@{DOMAIN}")
        failed = await caller.expect("failed", session=session)
        assert failed["status"] == 480, failed


# -- calls between two JsSIP phones -----------------------------------------------------------


async def _call_between_two_web_phones(
    node: RunningServer, admin: httpx.AsyncClient, events: list[LegEvent], side: str
) -> None:
    """A call from a WS phone to a WSS phone with the webitel SDK's configuration:
    ringing, answer, hold and unhold, DTMF and a JSON INFO, all from `side`, who also
    hangs up."""
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision_web_phone(admin, "1002", "webphone1002")
    async with JsSipPhone("alice") as caller, JsSipPhone("bob", insecure_tls=True) as callee:
        await register(caller, node, alice, TransportKind.WS)
        await register(callee, node, bob, TransportKind.WSS)
        await caller.expect("registered")
        await callee.expect("registered")

        session = await caller.call(f"sip:1002@{DOMAIN}")
        outgoing = await caller.expect("newRTCSession", session=session)
        incoming = await callee.expect("newRTCSession", direction="incoming")
        their = incoming["session"]
        # The INVITE to the web phone carries X-Webitel-Uuid: the id of its leg, which
        # the webitel SDK uses to link the SIP session to the call events.
        ringing = [e for e in events if isinstance(e, LegRinging)]
        caller_leg, callee_leg = ringing
        assert incoming["x_webitel_uuid"] == callee_leg.leg_id
        assert caller_leg.sip_call_id == outgoing["call_id"]
        assert callee_leg.sip_call_id == incoming["call_id"] != outgoing["call_id"]
        assert (caller_leg.user_id, callee_leg.user_id) == (int(alice.user_id), int(bob.user_id))
        assert incoming["request_uri"].endswith(".invalid;transport=ws")
        assert (await caller.expect("progress", session=session))["status"] == 180

        await callee.answer(their)
        assert (await caller.expect("accepted", session=session))["status"] == 200
        await caller.expect("confirmed", session=session)
        await callee.expect("confirmed", session=their)
        assert sum(isinstance(e, LegAnswered) for e in events) == 2

        if side == "caller":
            actor, actor_session, actor_leg = caller, session, caller_leg
            other, other_session = callee, their
        else:
            actor, actor_session, actor_leg = callee, their, callee_leg
            other, other_session = caller, session

        # Hold and unhold by re-INVITE (a=sendonly, then a=sendrecv) through the B2BUA.
        await actor.hold(actor_session)
        await other.expect("hold", session=other_session, originator="remote")
        assert [e.leg_id for e in events if isinstance(e, LegHeld)] == [actor_leg.leg_id]
        await actor.unhold(actor_session)
        await other.expect("unhold", session=other_session, originator="remote")
        assert [e.leg_id for e in events if isinstance(e, LegResumed)] == [actor_leg.leg_id]

        # DTMF by SIP INFO (application/dtmf-relay): a LegDtmf per tone, relayed on.
        await actor.dtmf("1#", session=actor_session)
        tone = await other.expect("newDTMF", session=other_session, originator="remote")
        assert tone["tone"] == "1"
        tone = await other.expect("newDTMF", session=other_session, originator="remote")
        assert tone["tone"] == "#"
        dtmf = [(e.leg_id, e.digit) for e in events if isinstance(e, LegDtmf)]
        assert dtmf == [(actor_leg.leg_id, "1"), (actor_leg.leg_id, "#")]

        # The webitel SDK's state note: an INFO with a JSON body, answered by the server
        # and not passed on to the other party.
        note = '{"videoMuted":false,"audioMuted":false,"hold":false}'
        assert await actor.info("application/json", note, session=actor_session) == 200
        assert other.find("newInfo", originator="remote", content_type="application/json") == []

        await actor.hangup(actor_session)
        assert (await other.expect("ended", session=other_session))["originator"] == "remote"
        assert (await actor.expect("ended", session=actor_session))["originator"] == "local"

    ended = [e for e in events if isinstance(e, LegEnded)]
    assert {e.leg_id for e in ended} == {caller_leg.leg_id, callee_leg.leg_id}
    assert {e.cause for e in ended} == {"NORMAL_CLEARING"}
    assert {e.record.hangup_by for e in ended} == {side}


async def test_call_between_two_web_phones_driven_by_the_caller(
    node: RunningServer, admin: httpx.AsyncClient, events: list[LegEvent]
) -> None:
    await _call_between_two_web_phones(node, admin, events, "caller")


async def test_call_between_two_web_phones_driven_by_the_callee(
    node: RunningServer, admin: httpx.AsyncClient, events: list[LegEvent]
) -> None:
    await _call_between_two_web_phones(node, admin, events, "callee")


async def test_web_phone_cancels_while_ringing(
    node: RunningServer, admin: httpx.AsyncClient, events: list[LegEvent]
) -> None:
    alice = await provision(admin, "1001")
    bob = await provision(admin, "1002")
    async with JsSipPhone("alice") as caller, JsSipPhone("bob") as callee:
        await register(caller, node, alice)
        await register(callee, node, bob)
        await caller.expect("registered")
        await callee.expect("registered")
        session = await caller.call(f"sip:1002@{DOMAIN}")
        their = (await callee.expect("newRTCSession", direction="incoming"))["session"]
        await caller.expect("progress", session=session)
        await caller.hangup(session)  # CANCEL
        failed = await callee.expect("failed", session=their)
        assert (failed["originator"], failed["cause"]) == ("remote", "Canceled")
        failed = await caller.expect("failed", session=session)
        assert (failed["originator"], failed["cause"]) == ("local", "Canceled")
    ended = [e for e in events if isinstance(e, LegEnded)]
    assert len(ended) == 2 and all(e.record.answered_at is None for e in ended)


async def test_web_phone_rejects_with_busy(
    node: RunningServer, admin: httpx.AsyncClient, events: list[LegEvent]
) -> None:
    alice = await provision(admin, "1001")
    bob = await provision(admin, "1002")
    async with JsSipPhone("alice") as caller, JsSipPhone("bob") as callee:
        await register(caller, node, alice)
        await register(callee, node, bob)
        await caller.expect("registered")
        await callee.expect("registered")
        session = await caller.call(f"sip:1002@{DOMAIN}")
        their = (await callee.expect("newRTCSession", direction="incoming"))["session"]
        await callee.reject(486, session=their)
        failed = await caller.expect("failed", session=session)
        assert (failed["status"], failed["cause"]) == (486, "Busy")
    ended = [e for e in events if isinstance(e, LegEnded)]
    assert {e.sip_code for e in ended} == {486}


# -- JsSIP and a plain RTP phone --------------------------------------------------------------


async def test_web_phone_and_sipp_phone_are_refused_with_488(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp
) -> None:
    alice = await provision(admin, "1001")
    bob = await provision(admin, "1002")
    server = str(node.sip_address(TransportKind.UDP))
    desk = sipp.agent(bob.account, bob.password, domain=DOMAIN)
    answering = await desk.answer_calls(server=server)
    async with JsSipPhone("alice") as web:
        await register(web, node, alice)
        await web.expect("registered")

        # WebRTC offer towards a plain RTP phone.
        session = await web.call(f"sip:1002@{DOMAIN}")
        failed = await web.expect("failed", session=session)
        assert failed["status"] == 488, failed
        assert failed["warning"] is not None and "Incompatible media" in failed["warning"]

        # Plain RTP offer towards the browser.
        result = await desk.call(server, alice.extension, scenario="uac_not_acceptable.xml")
        assert result.ok, result.report()
        [refusal] = result.received("SIP/2.0 488")
        assert "Warning: 399 callboard" in refusal and "Incompatible media" in refusal
        # The browser never rang.
        assert web.find("newRTCSession", direction="incoming") == []
    stopped = await answering.stop()
    assert stopped.log.count("CALLBOARD-CALL-START") == 0, stopped.report()


async def test_closed_tab_ends_its_call(
    node: RunningServer, admin: httpx.AsyncClient, events: list[LegEvent]
) -> None:
    """A web phone whose WebSocket drops mid-call (the tab closed) takes its call with it:
    the other party gets a BYE at once, not when a session timer runs out."""
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision_web_phone(admin, "1002", "webphone1002")
    async with JsSipPhone("alice") as caller, JsSipPhone("bob") as callee:
        await register(caller, node, alice)
        await register(callee, node, bob)
        await caller.expect("registered")
        await callee.expect("registered")
        session = await caller.call(f"sip:1002@{DOMAIN}")
        incoming = await callee.expect("newRTCSession", direction="incoming")
        await callee.answer(incoming["session"])
        await caller.expect("confirmed", session=session)

        await callee.kill()
        ended = await caller.expect("ended", session=session)
        assert ended["originator"] == "remote"
    causes = {e.leg_id: e.cause for e in events if isinstance(e, LegEnded)}
    assert set(causes.values()) == {"DESTINATION_OUT_OF_ORDER"} and len(causes) == 2
