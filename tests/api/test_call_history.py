"""`GET` and `POST /api/calls/history` over records the HistoryWriter stored, on SQLite
and PostgreSQL: every filter, paging, sorting, fields, who sees what, and bad input.

The records are the finished legs of a handful of calls, written the way the engine
writes them (LegEnded events through the HistoryWriter); tests/integration/
test_call_history_real.py searches records of real SIPp calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from callboard.calls.causes import HangupCause
from callboard.calls.events import Direction, LegEnded, LegRecord, Party, PartyKind
from callboard.calls.history import HistoryWriter
from callboard.events.bus import EventBus
from tests.api.helpers import client_for, error, make_token, make_user, ok, other_domain
from tests.support.server import RunningServer

T = 1_700_000_000_000
S = 1000  # one second, in ms
RANGE = {"created_at.from": str(T), "created_at.to": str(T + 3600 * S)}
BODY_RANGE = {"created_at": {"from": str(T), "to": T + 3600 * S}}


@dataclass
class World:
    alice: str
    bob: str
    supervisor_token: str
    alice_token: str
    other_token: str
    other_domain: str
    trunk: str


def _leg(
    leg: str,
    call: str,
    *,
    user: str | None,
    direction: Direction,
    caller: Party,
    callee: Party,
    created: int,
    hangup: int,
    answered: int | None = None,
    parent: str | None = None,
    cause: HangupCause = HangupCause.NORMAL_CLEARING,
    sip: int = 200,
    by: str = "caller",
    domain: int = 1,
    trunk: int | None = None,
    transfer_to: str | None = None,
    hold: int = 0,
    variables: dict[str, str] | None = None,
) -> LegEnded:
    record = LegRecord(
        leg_id=leg,
        call_id=call,
        parent_id=parent,
        domain_id=domain,
        user_id=None if user is None else int(user),
        direction=direction,
        caller=caller,
        callee=callee,
        destination=callee.number,
        sip_call_id=f"sip-{leg}",
        created_at=T + created * S,
        answered_at=None if answered is None else T + answered * S,
        bridged_at=None if answered is None else T + answered * S,
        hangup_at=T + hangup * S,
        hold_sec=hold,
        cause=cause,
        sip_code=sip,
        hangup_by=by,
        trunk_id=trunk,
        transfer_to=transfer_to,
        variables=variables or {},
    )
    return LegEnded(
        leg_id=leg,
        call_id=call,
        domain_id=domain,
        user_id=record.user_id,
        timestamp=record.hangup_at,
        cause=cause,
        sip_code=sip,
        record=record,
    )


async def _world(admin: httpx.AsyncClient, server: RunningServer) -> World:
    """Alice (1001), Bob (1002), a supervisor, a trunk; another domain with its admin;
    and the finished legs of seven calls (one before the searched hour)."""
    alice = await make_user(admin, "alice", "1001")
    bob = await make_user(admin, "bob", "1002")
    supervisor = await make_user(admin, "sup", "1009", role=2)
    trunk = ok(
        await admin.post(
            "/api/trunks", json={"name": "provider", "host": "127.0.0.1", "port": 5090}
        )
    )
    in_other = await other_domain(admin)
    boss = await make_user(admin, "boss", role=1, params=in_other)
    world = World(
        alice=alice["id"],
        bob=bob["id"],
        supervisor_token=await make_token(admin, supervisor["id"]),
        alice_token=await make_token(admin, alice["id"]),
        other_token=await make_token(admin, boss["id"], params=in_other),
        other_domain=in_other["domain_id"],
        trunk=trunk["id"],
    )
    a = Party("1001", "Alice", PartyKind.USER, int(world.alice))
    b = Party("1002", "Bob", PartyKind.USER, int(world.bob))
    outside = Party("+15551234", "+15551234", PartyKind.TRUNK)
    far = Party("5550100", "", PartyKind.EXTERNAL)
    trunk_id = int(world.trunk)
    out, inb = Direction.OUTBOUND, Direction.INBOUND
    legs = [
        # c0: the day before.
        _leg("a0", "c0", user=alice["id"], direction=out, caller=a, callee=b, created=-86400,
             answered=-86395, hangup=-86390),
        _leg("b0", "c0", user=bob["id"], direction=inb, caller=a, callee=b, created=-86400,
             answered=-86395, hangup=-86390, parent="a0"),
        # c1: Alice calls Bob, 5 s ringing, a minute's talk, Bob held 10 s.
        _leg("a1", "c1", user=alice["id"], direction=out, caller=a, callee=b, created=0,
             answered=5, hangup=65, variables={"crm": "42"}),
        _leg("b1", "c1", user=bob["id"], direction=inb, caller=a, callee=b, created=0,
             answered=5, hangup=65, parent="a1", hold=10),
        # c2: Bob calls Alice, who is busy.
        _leg("b2", "c2", user=bob["id"], direction=out, caller=b, callee=a, created=100,
             hangup=103, cause=HangupCause.USER_BUSY, sip=486, by="callee"),
        _leg("a2", "c2", user=alice["id"], direction=inb, caller=b, callee=a, created=100,
             hangup=103, parent="b2", cause=HangupCause.USER_BUSY, sip=486, by="callee"),
        # c3: a caller from the trunk reaches Alice.
        _leg("x3", "c3", user=None, direction=out, caller=outside, callee=a, created=200,
             answered=210, hangup=400, trunk=trunk_id),
        _leg("a3", "c3", user=alice["id"], direction=inb, caller=outside, callee=a,
             created=200, answered=210, hangup=400, parent="x3", by="callee"),
        # c4: Alice calls out through the trunk; nobody answers.
        _leg("a4", "c4", user=alice["id"], direction=out, caller=a, callee=far, created=300,
             hangup=330, cause=HangupCause.NO_ANSWER, sip=480, by="system"),
        _leg("t4", "c4", user=None, direction=inb, caller=a, callee=far, created=300,
             hangup=330, parent="a4", cause=HangupCause.NO_ANSWER, sip=480, by="system",
             trunk=trunk_id),
        # c6: Alice calls Bob and transfers him to 1003.
        _leg("a6", "c6", user=alice["id"], direction=out, caller=a, callee=b, created=500,
             answered=502, hangup=520, cause=HangupCause.BLIND_TRANSFER, transfer_to="1003"),
        _leg("b6", "c6", user=bob["id"], direction=inb, caller=a, callee=b, created=500,
             answered=502, hangup=600, parent="a6", by="callee"),
        # c5: in the other domain.
        _leg("o5", "c5", user=boss["id"], direction=out, caller=Party("1001"),
             callee=Party("1002"), created=50, hangup=55, domain=int(in_other["domain_id"])),
    ]  # fmt: skip
    bus = EventBus()
    writer = HistoryWriter(server.runtime.db, bus, coalesce=0)
    writer.start()
    for leg in legs:
        bus.publish(leg)
    await writer.stop()
    return world


IN_RANGE = {"a1", "b1", "b2", "a2", "x3", "a3", "a4", "t4", "a6", "b6"}


def _ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


async def _search(client: httpx.AsyncClient, **params: Any) -> list[str]:
    """The ids the GET finds; the POST with the same filters must find the same."""
    page = ok(await client.get("/api/calls/history", params={**RANGE, **params}))
    assert page["next"] is False
    body: dict[str, Any] = dict(BODY_RANGE)
    for key, value in params.items():
        if "." in key:
            name, end = key.split(".")
            body.setdefault(name, {})[end] = value
        elif key in ("user_id", "cause", "id", "gateway_id") and isinstance(value, str):
            body[key] = value.split(",")
        else:
            body[key] = value
    posted = ok(await client.post("/api/calls/history", json=body))
    assert _ids(posted) == _ids(page), (params, body)
    return _ids(page)


@pytest.fixture
async def world(admin: httpx.AsyncClient, server: RunningServer) -> World:
    return await _world(admin, server)


async def test_every_filter(admin: httpx.AsyncClient, world: World) -> None:
    found = await _search(admin)
    # Newest first; a leg and its child created together: by id.
    assert found == ["a6", "b6", "a4", "t4", "a3", "x3", "a2", "b2", "a1", "b1"]
    assert set(found) == IN_RANGE
    assert set(await _search(admin, number="1002")) == {"a1", "b1", "b2", "a2", "a6", "b6"}
    assert set(await _search(admin, number="+1555*")) == {"x3", "a3"}
    assert set(await _search(admin, number="555")) == {"x3", "a3", "a4", "t4"}
    assert set(await _search(admin, q="bob")) == {"a1", "b1", "b2", "a2", "a6", "b6"}
    assert set(await _search(admin, q="a3")) == {"a3"}
    assert set(await _search(admin, direction="inbound")) == {"b1", "a2", "a3", "t4", "b6"}
    assert set(await _search(admin, directions="outbound")) == {"a1", "b2", "x3", "a4", "a6"}
    assert set(await _search(admin, user_id=world.bob)) == {"b1", "b2", "b6"}
    both = f"{world.bob},{world.alice}"
    assert set(await _search(admin, user_id=both)) == IN_RANGE - {"x3", "t4"}
    assert set(await _search(admin, **{"duration.from": "60"})) == {"a1", "b1", "x3", "a3", "b6"}
    assert set(await _search(admin, **{"duration.to": "20"})) == {"b2", "a2", "a6"}
    assert set(await _search(admin, **{"duration.from": "30", "duration.to": "65"})) == {
        "a1",
        "b1",
        "a4",
        "t4",
    }
    assert set(await _search(admin, cause="USER_BUSY")) == {"b2", "a2"}
    assert set(await _search(admin, cause="NO_ANSWER,BLIND_TRANSFER")) == {"a4", "t4", "a6"}
    answered_window = {"answered_at.from": str(T + 200 * S), "answered_at.to": str(T + 600 * S)}
    assert set(await _search(admin, **answered_window)) == {"x3", "a3", "a6", "b6"}
    assert set(await _search(admin, missed=True)) == {"a2", "t4"}
    assert set(await _search(admin, missed=False)) == IN_RANGE - {"a2", "t4"}
    assert set(await _search(admin, answered=False)) == {"b2", "a2", "a4", "t4"}
    assert set(await _search(admin, answered=True)) == IN_RANGE - {"b2", "a2", "a4", "t4"}
    assert set(await _search(admin, parent_id="a1")) == {"b1"}
    assert set(await _search(admin, skip_parent=True)) == {"a1", "b2", "x3", "a4", "a6"}
    assert set(await _search(admin, gateway_id=world.trunk)) == {"x3", "t4"}
    assert set(await _search(admin, has_transfer=True)) == {"a6"}
    assert set(await _search(admin, id="a1,b6")) == {"a1", "b6"}
    # Filters combine.
    assert set(await _search(admin, user_id=world.alice, direction="inbound", answered=True)) == {
        "a3"
    }
    # The created_at range is inclusive, and bounds what is searched.
    day_before = {"created_at.from": str(T - 86400 * S), "created_at.to": str(T - 86400 * S)}
    page = ok(await admin.get("/api/calls/history", params=day_before))
    assert set(_ids(page)) == {"a0", "b0"}


async def test_history_call_shape(admin: httpx.AsyncClient, world: World) -> None:
    """The reference's HistoryCall field names, for what is stored."""
    page = ok(await admin.get("/api/calls/history", params={**RANGE, "id": "b1"}))
    [b1] = page["items"]
    assert b1 == {
        "id": "b1",
        "type": "call",
        "parent_id": "a1",
        "user": {"id": world.bob, "name": "Bob"},
        "extension": "1002",
        "direction": "inbound",
        "destination": "1002",
        "from": {"type": "user", "number": "1001", "id": world.alice, "name": "Alice"},
        "to": {"type": "user", "number": "1002", "id": world.bob, "name": "Bob"},
        "from_number": "1001",
        "to_number": "1002",
        "variables": {},
        "created_at": str(T),
        "answered_at": str(T + 5 * S),
        "bridged_at": str(T + 5 * S),
        "hangup_at": str(T + 65 * S),
        "hangup_by": "caller",
        "cause": "NORMAL_CLEARING",
        "sip_code": 200,
        "duration": 65,
        "wait_sec": 5,
        "bill_sec": 60,
        "talk_sec": 50,
        "hold_sec": 10,
        "has_children": False,
    }
    page = ok(await admin.get("/api/calls/history", params={**RANGE, "id": "a1,x3,t4"}))
    by_id = {item["id"]: item for item in page["items"]}
    assert by_id["a1"]["has_children"] is True and by_id["a1"]["variables"] == {"crm": "42"}
    assert by_id["a1"]["user"] == {"id": world.alice, "name": "Alice"}
    assert by_id["x3"]["from"] == {
        "type": "dest",
        "number": "+15551234",
        "id": "",
        "name": "+15551234",
    }
    assert "user" not in by_id["x3"] and "extension" not in by_id["x3"]
    assert by_id["x3"]["gateway"] == {"id": world.trunk, "name": "provider"}
    assert by_id["t4"]["to"]["type"] == "dest" and by_id["t4"]["wait_sec"] == 30
    # fields= keeps only those (and the id).
    page = ok(
        await admin.get(
            "/api/calls/history", params={**RANGE, "id": "a1", "fields": "cause,duration"}
        )
    )
    assert page["items"] == [{"id": "a1", "cause": "NORMAL_CLEARING", "duration": 65}]


async def test_paging_and_sorting(admin: httpx.AsyncClient, world: World) -> None:
    seen: list[str] = []
    for number in range(1, 5):
        page = ok(
            await admin.get(
                "/api/calls/history", params={**RANGE, "size": "3", "page": str(number)}
            )
        )
        seen += _ids(page)
        assert page["next"] is (number < 4)
    assert len(seen) == len(set(seen)) == 10 and set(seen) == IN_RANGE
    posted = ok(await admin.post("/api/calls/history", json={**BODY_RANGE, "size": 3, "page": 2}))
    assert _ids(posted) == seen[3:6] and posted["next"] is True

    oldest = await _search(admin, sort="created_at")
    assert oldest == ["a1", "b1", "a2", "b2", "a3", "x3", "a4", "t4", "a6", "b6"]
    by_duration = await _search(admin, sort="duration")
    durations = [65, 65, 3, 3, 200, 200, 30, 30, 20, 100]
    expected = sorted(zip(durations, oldest, strict=True), key=lambda pair: pair)
    assert by_duration == [leg for _, leg in expected]
    longest = await _search(admin, sort="-duration,id")
    assert longest[:2] == ["a3", "x3"] and longest[-2:] == ["a2", "b2"]
    # Legs never answered come last, ascending or descending.
    assert (await _search(admin, sort="answered_at"))[-4:] == ["a2", "a4", "b2", "t4"]
    assert (await _search(admin, sort="-answered_at"))[:2] == ["a6", "b6"]
    assert (await _search(admin, sort="-answered_at"))[-4:] == ["a2", "a4", "b2", "t4"]


async def test_who_sees_what(admin: httpx.AsyncClient, world: World) -> None:
    async with client_for(admin, world.alice_token) as alice:
        assert set(await _search(alice)) == {"a1", "a2", "a3", "a4", "a6"}
        assert set(await _search(alice, user_id=world.alice)) == {"a1", "a2", "a3", "a4", "a6"}
        assert set(await _search(alice, q="bob")) == {"a1", "a2", "a6"}
        denied = error(
            await alice.get("/api/calls/history", params={**RANGE, "user_id": world.bob}), 403
        )
        assert "calls:read" in denied["detail"]
        error(
            await alice.post(
                "/api/calls/history", json={**BODY_RANGE, "user_id": [world.alice, world.bob]}
            ),
            403,
        )
    async with client_for(admin, world.supervisor_token) as supervisor:
        assert set(await _search(supervisor)) == IN_RANGE
    async with client_for(admin, world.other_token) as them:
        # Another domain's calls are simply not there, whatever is asked.
        assert await _search(them) == ["o5"]
        assert await _search(them, id="a1") == []
        assert await _search(them, user_id=world.alice) == []
        error(await them.get("/api/calls/history", params={**RANGE, "domain_id": "1"}), 403)
    # The root administrator may look into another domain.
    page = ok(
        await admin.get("/api/calls/history", params={**RANGE, "domain_id": world.other_domain})
    )
    assert _ids(page) == ["o5"]


BAD_GETS: list[tuple[dict[str, str], str]] = [
    ({}, "created_at"),
    ({"created_at.from": str(T)}, "created_at"),
    ({"created_at.to": str(T)}, "created_at"),
    ({"created_at.from": "yesterday", "created_at.to": str(T)}, "created_at.from"),
    ({"created_at.from": str(T + 1), "created_at.to": str(T)}, "after"),
    ({**RANGE, "direction": "sideways"}, "direction"),
    ({**RANGE, "sort": "password"}, "cannot sort"),
    ({**RANGE, "size": "0"}, "size"),
    ({**RANGE, "size": "1001"}, "size"),
    ({**RANGE, "page": "0"}, "page"),
    ({**RANGE, "duration.from": "9", "duration.to": "1"}, "after"),
    ({**RANGE, "user_id": "alice"}, "user_id"),
    ({**RANGE, "missed": "perhaps"}, "missed"),
]

BAD_POSTS: list[tuple[Any, str]] = [
    ({}, "created_at"),
    ({"created_at": {"from": T}}, "created_at"),
    ({"created_at": {"from": T, "until": T}}, "until"),
    ({"created_at": {"from": "soon", "to": T}}, "created_at.from"),
    ({**BODY_RANGE, "directions": ["inbound", "up"]}, "direction"),
    ({**BODY_RANGE, "size": 5000}, "size"),
    ({**BODY_RANGE, "sort": "-secret"}, "cannot sort"),
    ({**BODY_RANGE, "answered_at": {"from": T + 9, "to": T}}, "after"),
    ({**BODY_RANGE, "gateway_id": ["x"]}, "gateway_id"),
    ([1, 2], "body"),
]


async def test_bad_searches(admin: httpx.AsyncClient) -> None:
    """Each gets a 400 in the one error shape, whose detail names what is wrong."""
    for params, detail in BAD_GETS:
        body = error(await admin.get("/api/calls/history", params=params), 400)
        assert detail in body["detail"], (params, body)
    for sent, detail in BAD_POSTS:
        body = error(await admin.post("/api/calls/history", json=sent), 400)
        assert detail in body["detail"], (sent, body)
    body = error(await admin.get("/api/calls/history"), 400)
    assert body["id"] == "app.call_history.created_at_required"


async def test_malformed_post_body(admin: httpx.AsyncClient) -> None:
    answer = error(
        await admin.post(
            "/api/calls/history",
            content=b'{"created_at": {"from": 1',
            headers={"Content-Type": "application/json"},
        ),
        400,
    )
    assert answer["id"] == "api.request.bad_json"


async def test_history_needs_a_token(anonymous: httpx.AsyncClient) -> None:
    error(await anonymous.get("/api/calls/history", params=RANGE), 401)
    error(await anonymous.get("/api/calls/active"), 401)
