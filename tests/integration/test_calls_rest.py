"""`/api/calls/active` against real SIPp calls: the live legs as they ring, answer, are
held and transferred; hold, DTMF, transfer and hangup driving the SIP legs; who may see
and touch which call; and bad requests refused before anything happens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from callboard.calls.events import LegBridged, LegDtmf, LegEnded, LegRinging
from tests.api.helpers import client_for, error, make_token, make_user, ok, other_domain
from tests.integration.conftest import EventLog, Phone, provision
from tests.integration.helpers import agent, answering, body, header, server_of
from tests.support.server import RunningServer
from tests.support.sipp import Sipp, SippResult


@dataclass
class People:
    alice: Phone
    bob: Phone
    carol: Phone
    tokens: dict[str, str]


@pytest.fixture
async def people(admin: httpx.AsyncClient) -> People:
    """Alice 1001, Bob 1002 and Carol 1003 (plain users with a phone each), a
    supervisor, and the administrator of another domain; a token for each."""
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    carol = await provision(admin, "1003", name="Carol")
    supervisor = await make_user(admin, "sup", "1009", role=2)
    in_other = await other_domain(admin)
    boss = await make_user(admin, "boss", role=1, params=in_other)
    tokens = {
        "alice": await make_token(admin, alice.user_id),
        "bob": await make_token(admin, bob.user_id),
        "carol": await make_token(admin, carol.user_id),
        "supervisor": await make_token(admin, supervisor["id"]),
        "other": await make_token(admin, boss["id"], params=in_other),
    }
    return People(alice, bob, carol, tokens)


@contextlib.asynccontextmanager
async def clients(
    admin: httpx.AsyncClient, people: People
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with contextlib.AsyncExitStack() as stack:
        found = {"admin": admin}
        for name, token in people.tokens.items():
            found[name] = await stack.enter_async_context(client_for(admin, token))
        yield found


def _by_id(page: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in page["items"]}


async def _active(client: httpx.AsyncClient, **params: str) -> dict[str, dict[str, Any]]:
    return _by_id(ok(await client.get("/api/calls/active", params=params)))


def _directions(messages: list[str]) -> list[str]:
    """The `a=` direction of each SDP body, in order."""
    found = []
    for message in messages:
        lines = [line for line in body(message).splitlines() if line.startswith("a=")]
        found += [line[2:] for line in lines if line[2:] in ("sendrecv", "inactive", "sendonly")]
    return found


async def _call(
    sipp: Sipp, node: RunningServer, caller: Phone, callee: Phone, scenario: str
) -> asyncio.Task[SippResult]:
    """`caller` calls `callee` in the background; the task ends with SIPp's result."""
    return asyncio.create_task(
        agent(sipp, caller).call(server_of(node, "udp"), callee.extension, scenario=scenario)
    )


async def test_ringing_legs_then_declined(
    node: RunningServer,
    admin: httpx.AsyncClient,
    people: People,
    sipp: Sipp,
    events: EventLog,
) -> None:
    """While Bob's phone rings both legs are listed as ringing, each to whom it belongs;
    Bob declines from the API with a cause, which Alice's phone hears as its SIP code."""
    ringing_phone = await answering(sipp, node, people.bob, scenario="uas_noanswer.xml")
    call = await _call(sipp, node, people.alice, people.bob, "uac_rejected.xml")
    caller_leg, callee_leg = await events.wait_for(LegRinging, 2)
    a, b = caller_leg.leg_id, callee_leg.leg_id
    async with clients(admin, people) as as_:
        legs = await _active(as_["admin"])
        assert set(legs) == {a, b}
        assert (legs[a]["state"], legs[a]["direction"], legs[a]["destination"]) == (
            "ringing",
            "outbound",
            "1002",
        )
        assert legs[a]["user"] == {"id": people.alice.user_id, "name": "Alice"}
        assert legs[a]["from"]["number"] == "1001" and legs[a]["to"]["number"] == "1002"
        assert (legs[b]["state"], legs[b]["direction"], legs[b]["parent_id"]) == (
            "ringing",
            "inbound",
            a,
        )
        assert legs[b]["user"] == {"id": people.bob.user_id, "name": "Bob"}
        assert legs[b]["extension"] == "1002" and legs[b]["app_id"] == node.runtime.node_id
        assert "answered_at" not in legs[b] and legs[b]["hold"] == []
        # A plain user sees only their own leg, and the other's is not found.
        assert set(await _active(as_["alice"])) == {a}
        assert set(await _active(as_["bob"])) == {b}
        assert set(await _active(as_["carol"])) == set()
        error(await as_["alice"].get(f"/api/calls/active/{b}"), 404)
        error(
            await as_["alice"].get("/api/calls/active", params={"user_id": people.bob.user_id}), 403
        )
        assert set(await _active(as_["supervisor"], user_id=people.bob.user_id)) == {b}
        assert set(await _active(as_["supervisor"], state="ringing", direction="inbound")) == {b}
        # A ringing call cannot be held, sent digits or transferred.
        for path, sent in (
            ("hold", None),
            ("dtmf", {"digit": "1"}),
            ("transfer", {"destination": "1003"}),
        ):
            conflict = error(
                await as_["bob"].patch(f"/api/calls/active/{b}/{path}", json=sent), 409
            )
            assert conflict["id"] == "app.call.state"

        assert (
            ok(
                await as_["bob"].request(
                    "DELETE", f"/api/calls/active/{b}", json={"cause": "CALL_REJECTED"}
                )
            )
            == {}
        )
        result = await call
        assert [m.split()[1] for m in result.received("SIP/2.0 6")] == ["603"]
        assert {e.leg_id: e.cause for e in await events.wait_for(LegEnded, 2)} == {
            a: "CALL_REJECTED",
            b: "CALL_REJECTED",
        }
        assert await _active(as_["admin"]) == {}
        error(await as_["admin"].get(f"/api/calls/active/{b}"), 404)
        gone = error(await as_["bob"].delete(f"/api/calls/active/{b}"), 404)
        assert gone["id"] == "app.call.not_found"
    seen_by_bob = await ringing_phone.stop()
    assert len(seen_by_bob.received("CANCEL ")) == 1


async def test_hold_dtmf_and_hangup(
    node: RunningServer,
    admin: httpx.AsyncClient,
    people: People,
    sipp: Sipp,
    events: EventLog,
) -> None:
    """An answered call: hold and unhold re-INVITE both phones (inactive, then
    sendrecv) and answer with the state; DTMF reaches the other phone as INFO; bad
    requests change nothing; DELETE ends both legs, and both phones get a BYE."""
    phone = await answering(sipp, node, people.bob)
    call = await _call(sipp, node, people.alice, people.bob, "uac_passive.xml")
    await events.wait_for(LegBridged, 2)
    a, b = (e.leg_id for e in events.of(LegRinging))
    async with clients(admin, people) as as_:
        legs = await _active(as_["supervisor"])
        assert {leg: item["state"] for leg, item in legs.items()} == {a: "active", b: "active"}
        assert (legs[a]["bridged_id"], legs[b]["bridged_id"]) == (b, a)
        assert int(legs[b]["answered_at"]) >= int(legs[b]["created_at"])
        assert legs[a]["to"] == {
            "type": "user",
            "number": "1002",
            "id": people.bob.user_id,
            "name": "Bob",
        }

        held = await as_["bob"].patch(f"/api/calls/active/{b}/hold")
        assert ok(held) == {"state": "hold"}
        leg = ok(await as_["bob"].get(f"/api/calls/active/{b}"))
        assert leg["state"] == "hold" and len(leg["hold"]) == 1 and "stop" not in leg["hold"][0]
        assert ok(await as_["alice"].get(f"/api/calls/active/{a}"))["state"] == "active"
        resumed = await as_["bob"].patch(f"/api/calls/active/{b}/unhold", json={"app_id": "x"})
        assert ok(resumed) == {"state": "active"}
        leg = ok(await as_["bob"].get(f"/api/calls/active/{b}", params={"fields": "state,hold"}))
        assert set(leg) == {"id", "state", "hold"} and "stop" in leg["hold"][0]
        # Unhold of a call that is not held changes nothing.
        assert ok(await as_["bob"].patch(f"/api/calls/active/{b}/unhold")) == {"state": "active"}

        sent = await as_["admin"].patch(f"/api/calls/active/{a}/dtmf", json={"digits": "12#"})
        assert ok(sent) == {}
        assert (
            ok(await as_["alice"].patch(f"/api/calls/active/{a}/dtmf", json={"digit": "5"})) == {}
        )
        dtmf = await events.wait_for(LegDtmf, 4)
        assert [(e.leg_id, e.digit) for e in dtmf] == [(a, "1"), (a, "2"), (a, "#"), (a, "5")]

        for path, sent_body in (
            ("dtmf", {}),
            ("dtmf", {"digit": "12"}),
            ("dtmf", {"digits": "9x"}),
            ("dtmf", {"digit": "1", "digits": "2"}),
            ("dtmf", {"digits": 7}),
            ("transfer", {}),
            ("transfer", {"destination": ""}),
        ):
            refused = error(
                await as_["bob"].patch(f"/api/calls/active/{b}/{path}", json=sent_body), 400
            )
            assert refused["detail"], refused
        malformed = await as_["bob"].patch(
            f"/api/calls/active/{b}/dtmf",
            content=b'{"digit": ',
            headers={"Content-Type": "application/json"},
        )
        assert error(malformed, 400)["id"] == "api.request.bad_json"
        error(
            await as_["bob"].request("DELETE", f"/api/calls/active/{b}", json={"cause": "BOGUS"}),
            400,
        )
        # Carol may not touch the call, nor may another domain's administrator.
        for who in ("carol", "other"):
            client = as_[who]
            assert await _active(client) == {}
            error(await client.get(f"/api/calls/active/{a}"), 404)
            error(await client.patch(f"/api/calls/active/{a}/hold"), 404)
            error(await client.patch(f"/api/calls/active/{a}/dtmf", json={"digit": "1"}), 404)
            error(
                await client.patch(f"/api/calls/active/{a}/transfer", json={"destination": "1003"}),
                404,
            )
            error(await client.delete(f"/api/calls/active/{a}"), 404)
        # None of that changed the call.
        assert {k: v["state"] for k, v in (await _active(as_["admin"])).items()} == {
            a: "active",
            b: "active",
        }
        assert len(events.of(LegDtmf)) == 4 and not events.of(LegEnded)

        assert ok(await as_["alice"].delete(f"/api/calls/active/{a}")) == {}
        ended = await events.wait_for(LegEnded, 2)
        assert {(e.leg_id, e.cause, e.sip_code) for e in ended} == {
            (a, "NORMAL_CLEARING", 200),
            (b, "NORMAL_CLEARING", 200),
        }
        assert await _active(as_["admin"]) == {}
    seen_by_alice = await call
    await phone.wait_calls(1)
    seen_by_bob = await phone.stop()
    assert len(seen_by_alice.received("BYE ")) == 1 and len(seen_by_bob.received("BYE ")) == 1
    # Each phone was offered inactive (hold), then sendrecv (unhold), and nothing more.
    assert _directions(seen_by_alice.received("INVITE ")) == ["inactive", "sendrecv"]
    assert _directions(seen_by_bob.received("INVITE ")) == ["sendrecv", "inactive", "sendrecv"]
    infos = seen_by_bob.received("INFO ")
    assert [body(m).splitlines()[0] for m in infos] == [
        "Signal=1",
        "Signal=2",
        "Signal=#",
        "Signal=5",
    ]
    assert all(header(m, "Content-Type") == ["application/dtmf-relay"] for m in infos)


async def test_transfer_moves_the_call(
    node: RunningServer,
    admin: httpx.AsyncClient,
    people: People,
    sipp: Sipp,
    events: EventLog,
) -> None:
    """Bob transfers Alice to Carol: Bob's phone is released at once, Carol's rings and
    answers, Alice's phone is re-INVITEd with Carol's session; the active calls follow."""
    bob_phone = await answering(sipp, node, people.bob)
    carol_phone = await answering(sipp, node, people.carol)
    call = await _call(sipp, node, people.alice, people.bob, "uac_passive.xml")
    await events.wait_for(LegBridged, 2)
    a, b = (e.leg_id for e in events.of(LegRinging))
    async with clients(admin, people) as as_:
        moved = await as_["bob"].patch(
            f"/api/calls/active/{b}/transfer", json={"destination": " 1003 "}
        )
        assert ok(moved) == {}
        await events.wait_for(LegBridged, 4)
        [c] = [e.leg_id for e in events.of(LegRinging) if e.leg_id not in (a, b)]
        assert {e.leg_id: e.cause for e in events.of(LegEnded)} == {b: "BLIND_TRANSFER"}
        legs = await _active(as_["supervisor"])
        assert set(legs) == {a, c}
        assert (legs[c]["parent_id"], legs[c]["state"], legs[c]["direction"]) == (
            a,
            "active",
            "inbound",
        )
        assert legs[c]["user"] == {"id": people.carol.user_id, "name": "Carol"}
        assert (legs[a]["bridged_id"], legs[c]["bridged_id"]) == (c, a)
        # Alice's leg now talks to Carol.
        assert legs[a]["to"]["number"] == "1003" and legs[c]["from"]["number"] == "1001"
        error(await as_["bob"].get(f"/api/calls/active/{b}"), 404)
        assert set(await _active(as_["bob"])) == set()
        assert set(await _active(as_["carol"])) == {c}

        assert ok(await as_["carol"].delete(f"/api/calls/active/{c}")) == {}
        ended = {e.leg_id: e.cause for e in await events.wait_for(LegEnded, 3)}
        assert ended == {b: "BLIND_TRANSFER", a: "NORMAL_CLEARING", c: "NORMAL_CLEARING"}
    seen_by_alice = await call
    await carol_phone.wait_calls(1)
    seen_by_bob, seen_by_carol = await bob_phone.stop(), await carol_phone.stop()
    assert len(seen_by_bob.received("BYE ")) == 1 and len(seen_by_carol.received("BYE ")) == 1
    # Alice's phone now has Carol's session description.
    [reinvite] = seen_by_alice.received("INVITE ")
    assert body(reinvite) == body(seen_by_carol.sent("SIP/2.0 200")[0])
