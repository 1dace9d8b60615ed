"""The call history of real SIPp calls, searched over REST, on SQLite and PostgreSQL: a
call hung up from the API keeps the cause it was given, a busy call is a missed one,
and the filters find the legs the engine wrote."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from callboard.calls.events import LegBridged, LegEnded, LegRinging
from callboard.clock import now_ms
from tests.api.helpers import client_for, error, make_token, ok
from tests.integration.conftest import EventLog, provision
from tests.integration.helpers import agent, answering, server_of
from tests.support.server import RunningServer
from tests.support.sipp import Sipp


@pytest.fixture
def node_database_url(database_url: str) -> str:
    """This module's nodes store on SQLite and on PostgreSQL, in turn."""
    return database_url


async def test_history_of_real_calls(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    start = now_ms()
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    server = server_of(node, "udp")

    # Alice calls Bob; an administrator hangs the call up from the API with a cause.
    bob_phone = await answering(sipp, node, bob)
    call = asyncio.create_task(
        agent(sipp, alice).call(server, bob.extension, scenario="uac_passive.xml")
    )
    await events.wait_for(LegBridged, 2)
    a, b = (e.leg_id for e in events.of(LegRinging))
    hung = await admin.request("DELETE", f"/api/calls/active/{a}", json={"cause": "CALL_REJECTED"})
    assert ok(hung) == {}
    assert (await call).ok
    await bob_phone.wait_calls(1)
    await bob_phone.stop()

    # Bob calls Alice, whose phone is busy.
    busy_phone = await answering(sipp, node, alice, scenario="uas_busy.xml")
    await agent(sipp, bob).call(server, alice.extension, scenario="uac_busy.xml")
    await busy_phone.stop()
    await events.wait_for(LegEnded, 4)
    c, d = (e.leg_id for e in events.of(LegRinging)[2:])
    assert node.telephony is not None
    await node.telephony.history.flush()

    window = {"created_at.from": str(start), "created_at.to": str(now_ms())}

    async def search(client: httpx.AsyncClient, **filters: Any) -> dict[str, dict[str, Any]]:
        page = ok(await client.get("/api/calls/history", params={**window, **filters}))
        assert page["next"] is False
        return {item["id"]: item for item in page["items"]}

    legs = await search(admin)
    assert set(legs) == {a, b, c, d}
    # Newest first: the busy call's legs, then the first call's.
    page = ok(await admin.get("/api/calls/history", params={**window, "sort": "-created_at"}))
    assert [item["id"] for item in page["items"]][2:] in ([a, b], [b, a])
    assert {legs[a]["cause"], legs[b]["cause"]} == {"CALL_REJECTED"}
    assert (legs[a]["hangup_by"], legs[a]["direction"], legs[b]["parent_id"]) == (
        "caller",
        "outbound",
        a,
    )
    assert legs[a]["answered_at"] and legs[b]["bridged_at"] and legs[a]["has_children"] is True
    assert legs[a]["user"] == {"id": alice.user_id, "name": "Alice"}
    assert legs[b]["from"]["number"] == "1001" and legs[b]["to"]["name"] == "Bob"
    assert (legs[d]["cause"], legs[d]["sip_code"], legs[d]["direction"]) == (
        "USER_BUSY",
        486,
        "inbound",
    )
    assert "answered_at" not in legs[c] and "answered_at" not in legs[d]

    assert set(await search(admin, user_id=alice.user_id)) == {a, d}
    assert set(await search(admin, missed="true")) == {d}
    assert set(await search(admin, answered="true")) == {a, b}
    assert set(await search(admin, cause="USER_BUSY")) == {c, d}
    assert set(await search(admin, skip_parent="true")) == {a, c}
    assert set(await search(admin, parent_id=a)) == {b}
    assert set(await search(admin, direction="inbound", number="1001")) == {b, d}
    assert set(await search(admin, q="bob", direction="outbound")) == {a, c}
    posted = ok(
        await admin.post(
            "/api/calls/history",
            json={
                "created_at": {"from": start, "to": str(now_ms())},
                "user_id": [bob.user_id],
                "cause": ["CALL_REJECTED"],
            },
        )
    )
    assert [item["id"] for item in posted["items"]] == [b]

    # Bob sees his own legs only; the history outlives the calls.
    async with client_for(admin, await make_token(admin, bob.user_id)) as as_bob:
        assert set(await search(as_bob)) == {b, c}
        error(
            await as_bob.get("/api/calls/history", params={**window, "user_id": alice.user_id}), 403
        )
        error(await as_bob.get(f"/api/calls/active/{b}"), 404)
