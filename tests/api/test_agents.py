"""Agents over REST (`/api/call_center/agents`), on SQLite and PostgreSQL: the record,
its status state machine, the event every committed change publishes, who may do what."""

from __future__ import annotations

from typing import Any

import httpx

from callboard.callcenter.events import AgentChannel, AgentStatusChanged
from callboard.callcenter.status import AgentStatus
from tests.api.helpers import client_for, error, make_token, make_user, ok, other_domain
from tests.support.server import RunningServer

AGENTS = "/api/call_center/agents"


def status_events(server: RunningServer) -> list[AgentStatusChanged]:
    """Every AgentStatusChanged the node publishes from now on, in order."""
    seen: list[AgentStatusChanged] = []
    server.runtime.bus.subscribe(AgentStatusChanged, seen.append)
    return seen


async def make_agent(client: httpx.AsyncClient, user_id: str, **fields: Any) -> dict[str, Any]:
    return ok(await client.post(AGENTS, json={"user": {"id": user_id}, **fields}))


async def test_agent_record_lifecycle(admin: httpx.AsyncClient) -> None:
    alice = await make_user(admin, "alice", "1001")
    agent = await make_agent(admin, alice["id"], description="first line", team={})
    assert agent["id"].isdigit() and agent["user"] == {"id": alice["id"], "name": "Alice"}
    assert (agent["name"], agent["extension"]) == ("Alice", "1001")
    assert agent["status"] == "offline" and agent["status_payload"] is None
    assert agent["last_status_change"].isdigit() and agent["status_duration"].isdigit()
    assert agent["allow_channels"] == ["call"]
    assert [(c["channel"], c["state"]) for c in agent["channel"]] == [("call", "waiting")]
    assert agent["supervisor"] == [] and agent["auditor"] == [] and agent["skills"] == []
    assert agent["team"] is None and agent["is_supervisor"] is False
    assert agent["progressive_count"] == 1 and agent["description"] == "first line"
    assert agent["created_by"]["name"] and agent["created_at"].isdigit()

    # One agent per user; references must exist; bad input is a clear 400.
    again = error(await admin.post(AGENTS, json={"user": {"id": alice["id"]}}), 409)
    assert again["id"] == "app.agent.user_exists"
    assert error(await admin.post(AGENTS, json={"user": {"id": "9999"}}), 400)["id"] == (
        "app.user.not_found"
    )
    assert error(await admin.post(AGENTS, json={"description": "x"}), 400)["id"] == (
        "app.agent.user_required"
    )
    bob = await make_user(admin, "bob", "1002")
    for body, problem in (
        ({"allow_channels": ["fax"]}, "unknown channel"),
        ({"allow_channels": ["call", "call"]}, "twice"),
        ({"team": {"id": "3"}}, "team 3 not found"),
        ({"progressive_count": 0}, "progressive_count"),
        ({"user": {"id": "x"}}, "user.id"),
    ):
        refused = error(await admin.post(AGENTS, json={"user": {"id": bob["id"]}, **body}), 400)
        assert problem in refused["detail"], refused
    assert ok(await admin.get(AGENTS, params={"user_id": bob["id"]}))["items"] == []

    read = ok(await admin.get(f"{AGENTS}/{agent['id']}"))
    assert read["id"] == agent["id"] and read["status"] == "offline"
    assert ok(await admin.get(f"{AGENTS}/{agent['id']}", params={"fields": "status"})) == {
        "id": agent["id"],
        "status": "offline",
    }
    patched = ok(
        await admin.patch(
            f"{AGENTS}/{agent['id']}", json={"chat_count": 3, "allow_channels": ["call", "chat"]}
        )
    )
    assert patched["chat_count"] == 3 and patched["description"] == "first line"
    assert patched["allow_channels"] == ["call", "chat"]
    replaced = ok(await admin.put(f"{AGENTS}/{agent['id']}", json={"is_supervisor": True}))
    assert replaced["is_supervisor"] is True
    assert (replaced["description"], replaced["chat_count"]) == ("", 1)  # back to defaults
    assert replaced["allow_channels"] == ["call"]
    moved = error(await admin.put(f"{AGENTS}/{agent['id']}", json={"user": {"id": bob["id"]}}), 400)
    assert moved["id"] == "app.agent.user_fixed"
    assert error(await admin.get(f"{AGENTS}/12345"), 404)["id"] == "app.agent.not_found"
    assert error(await admin.get(f"{AGENTS}/abc"), 400)["id"] == "api.request.bad_id"

    deleted = ok(await admin.delete(f"{AGENTS}/{agent['id']}"))
    assert deleted["id"] == agent["id"]
    assert error(await admin.get(f"{AGENTS}/{agent['id']}"), 404)
    # The user is untouched, and may become an agent again.
    assert ok(await admin.get(f"/api/users/{alice['id']}"))["username"] == "alice"
    await make_agent(admin, alice["id"])


async def test_search_filters_and_paging(admin: httpx.AsyncClient) -> None:
    boss = await make_user(admin, "boss", "2000")
    supervisor = await make_agent(admin, boss["id"], is_supervisor=True)
    workers = []
    for number in range(3):
        user = await make_user(admin, f"worker{number}", f"200{number + 1}")
        workers.append(
            await make_agent(
                admin,
                user["id"],
                supervisor=[{"id": supervisor["id"]}],
                auditor=[{"id": boss["id"]}],
                description=f"desk {number}",
            )
        )
    assert workers[0]["supervisor"] == [{"id": supervisor["id"], "name": "Boss"}]
    assert workers[0]["auditor"] == [{"id": boss["id"], "name": "Boss"}]
    ok(await admin.patch(f"{AGENTS}/{workers[1]['id']}/status", json={"status": "online"}))

    def ids(page: dict[str, Any]) -> list[str]:
        return [item["id"] for item in page["items"]]

    everyone = ok(await admin.get(AGENTS))
    assert ids(everyone) == [supervisor["id"]] + [w["id"] for w in workers]
    assert everyone["next"] is False
    first = ok(await admin.get(AGENTS, params={"size": 2}))
    assert ids(first) == [supervisor["id"], workers[0]["id"]] and first["next"] is True
    second = ok(await admin.get(AGENTS, params={"size": 2, "page": 2}))
    assert ids(second) == [workers[1]["id"], workers[2]["id"]] and second["next"] is False
    for params, expected in (
        ({"user_id": [boss["id"]]}, [supervisor["id"]]),
        ({"id": f"{workers[0]['id']},{workers[2]['id']}"}, [workers[0]["id"], workers[2]["id"]]),
        ({"status": "online"}, [workers[1]["id"]]),
        ({"q": "WORKER2"}, [workers[2]["id"]]),
        ({"q": "desk*1"}, [workers[1]["id"]]),
        ({"extension": "2003"}, [workers[2]["id"]]),
        ({"is_supervisor": "true"}, [supervisor["id"]]),
        ({"not_supervisor": "true"}, [w["id"] for w in workers]),
        ({"supervisor_id": supervisor["id"]}, [w["id"] for w in workers]),
        ({"auditor_id": boss["id"]}, [w["id"] for w in workers]),
    ):
        assert ids(ok(await admin.get(AGENTS, params=params))) == expected, params
    by_name = ok(await admin.get(AGENTS, params={"sort": "-name", "fields": "name"}))
    assert [item["name"] for item in by_name["items"]] == [
        "Worker2",
        "Worker1",
        "Worker0",
        "Boss",
    ]
    assert set(by_name["items"][0]) == {"id", "name"}
    assert error(await admin.get(AGENTS, params={"status": "busy"}), 400)
    assert error(await admin.get(AGENTS, params={"sort": "password"}), 400)

    # Supervision must stay consistent: a supervisor is an agent flagged as one, and one
    # who still supervises can be neither demoted nor deleted.
    refused = error(
        await admin.patch(
            f"{AGENTS}/{workers[0]['id']}", json={"supervisor": [{"id": workers[1]["id"]}]}
        ),
        400,
    )
    assert refused["id"] == "app.agent.not_supervisor"
    demoted = await admin.patch(f"{AGENTS}/{supervisor['id']}", json={"is_supervisor": False})
    assert error(demoted, 409)["id"] == "app.agent.supervises_agents"
    assert error(await admin.delete(f"{AGENTS}/{supervisor['id']}"), 409)
    for worker in workers:
        ok(await admin.patch(f"{AGENTS}/{worker['id']}", json={"supervisor": []}))
    ok(await admin.delete(f"{AGENTS}/{supervisor['id']}"))


async def test_status_state_machine_and_its_events(
    admin: httpx.AsyncClient, server: RunningServer
) -> None:
    events = status_events(server)
    user = await make_user(admin, "carol", "1003")
    agent = await make_agent(admin, user["id"], allow_channels=["call", "chat"], chat_count=4)
    path = f"{AGENTS}/{agent['id']}/status"

    online = ok(await admin.patch(path, json={"status": "online", "channels": ["call"]}))
    assert online["status"] == "online" and [c["channel"] for c in online["channel"]] == ["call"]
    [event] = events
    assert (event.agent_id, event.user_id, event.domain_id) == (
        int(agent["id"]),
        int(user["id"]),
        1,
    )
    assert event.status is AgentStatus.ONLINE and event.on_demand is False
    assert event.channels == (AgentChannel("call", "waiting", event.timestamp, 1),)
    assert online["last_status_change"] == str(event.timestamp)

    # The same again changes nothing and says nothing; other channels are a change.
    ok(await admin.patch(path, json={"status": "online", "channels": ["call"]}))
    assert len(events) == 1
    both = ok(await admin.patch(path, json={"status": "online", "on_demand": True}))
    assert [c["channel"] for c in both["channel"]] == ["call", "chat"]
    assert both["channel"][1]["max_open"] == 4 and both["on_demand"] is True
    assert both["last_status_change"] == online["last_status_change"]  # still online
    assert len(events) == 2 and events[1].on_demand is True

    paused = ok(
        await admin.patch(
            path, json={"status": "pause", "payload": "lunch", "status_comment": "1h"}
        )
    )
    assert (paused["status"], paused["status_payload"], paused["status_comment"]) == (
        "pause",
        "lunch",
        "1h",
    )
    assert [c["channel"] for c in paused["channel"]] == ["call", "chat"]  # kept for resuming
    assert events[2].status is AgentStatus.PAUSE and events[2].payload == "lunch"
    again = error(await admin.patch(path, json={"status": "pause", "payload": "lunch"}), 409)
    assert again["id"] == "app.agent.set_pause.payload"
    ok(await admin.patch(path, json={"status": "pause", "payload": "coffee"}))
    assert events[3].payload == "coffee"

    # Refused changes leave everything as it was, and publish nothing.
    for body, code, error_id in (
        ({"status": "online", "channels": ["task"]}, 400, "app.agent.channel.not_allowed"),
        ({"status": "online", "channels": ["fax"]}, 400, "app.agent.channel.unknown"),
        ({"status": "busy"}, 400, "api.request.validation"),
        ({"status": "pause", "payload": "x" * 201}, 400, "api.request.validation"),
        ({}, 400, "api.request.validation"),
    ):
        assert error(await admin.patch(path, json=body), code)["id"] == error_id, body
    assert len(events) == 4
    now = ok(await admin.get(f"{AGENTS}/{agent['id']}"))
    assert (now["status"], now["status_payload"]) == ("pause", "coffee")

    offline = ok(await admin.patch(path, json={"status": "offline"}))
    assert offline["status"] == "offline" and offline["status_payload"] is None
    assert events[4].status is AgentStatus.OFFLINE
    twice = error(await admin.patch(path, json={"status": "offline"}), 409)
    assert twice["id"] == "app.agent.set_logout.agent_logged_out"

    # Deleting an agent who is not offline tells everyone it went offline.
    ok(await admin.patch(path, json={"status": "online"}))
    ok(await admin.delete(f"{AGENTS}/{agent['id']}"))
    assert [e.status for e in events[5:]] == [AgentStatus.ONLINE, AgentStatus.OFFLINE]
    assert error(await admin.patch(path, json={"status": "online"}), 404)


async def test_who_may_do_what(admin: httpx.AsyncClient, server: RunningServer) -> None:
    events = status_events(server)
    dave = await make_user(admin, "dave", "1004", role=3)
    erin = await make_user(admin, "erin", "1005", role=3)
    sup = await make_user(admin, "sup", "1006", role=2)
    daves = await make_agent(admin, dave["id"])
    erins = await make_agent(admin, erin["id"])

    async with client_for(admin, await make_token(admin, dave["id"])) as agent:
        # An agent reads and sets their own status, and nothing more.
        assert ok(await agent.get(f"{AGENTS}/{daves['id']}"))["id"] == daves["id"]
        assert [i["id"] for i in ok(await agent.get(AGENTS))["items"]] == [daves["id"]]
        own = await agent.patch(f"{AGENTS}/{daves['id']}/status", json={"status": "online"})
        assert ok(own)["status"] == "online"
        for response in (
            await agent.get(f"{AGENTS}/{erins['id']}"),
            await agent.patch(f"{AGENTS}/{erins['id']}/status", json={"status": "online"}),
            await agent.patch(f"{AGENTS}/{daves['id']}", json={"description": "me"}),
            await agent.post(AGENTS, json={"user": {"id": sup["id"]}}),
            await agent.delete(f"{AGENTS}/{daves['id']}"),
        ):
            assert error(response, 403)["id"] == "api.context.permissions.app_error"
    async with client_for(admin, await make_token(admin, sup["id"])) as supervisor:
        # A supervisor manages the domain's agents.
        assert len(ok(await supervisor.get(AGENTS))["items"]) == 2
        ok(await supervisor.patch(f"{AGENTS}/{erins['id']}/status", json={"status": "pause"}))
        ok(await supervisor.post(AGENTS, json={"user": {"id": sup["id"]}, "is_supervisor": True}))
    assert [(e.agent_id, e.status) for e in events] == [
        (int(daves["id"]), AgentStatus.ONLINE),
        (int(erins["id"]), AgentStatus.PAUSE),
    ]

    # Another domain's administrator: our agents do not exist for them.
    in_other = await other_domain(admin, "other.lo")
    boss = await make_user(admin, "boss", role=1, params=in_other)
    async with client_for(admin, await make_token(admin, boss["id"], params=in_other)) as them:
        assert ok(await them.get(AGENTS))["items"] == []
        for response in (
            await them.get(f"{AGENTS}/{daves['id']}"),
            await them.patch(f"{AGENTS}/{daves['id']}", json={"description": "x"}),
            await them.patch(f"{AGENTS}/{daves['id']}/status", json={"status": "offline"}),
            await them.delete(f"{AGENTS}/{daves['id']}"),
        ):
            assert error(response, 404)["id"] == "app.agent.not_found"
        stolen = await them.post(AGENTS, json={"user": {"id": dave["id"]}})
        assert error(stolen, 400)["id"] == "app.user.not_found"
        assert error(await them.get(AGENTS, params={"domain_id": "1"}), 403)
    assert len(events) == 2
    # The root administrator may work in the other domain on purpose.
    made = ok(await admin.post(AGENTS, json={"user": {"id": boss["id"]}}, params=in_other))
    assert ok(await admin.get(AGENTS, params=in_other))["items"][0]["id"] == made["id"]


async def test_deleting_the_user_deletes_the_agent(admin: httpx.AsyncClient) -> None:
    frank = await make_user(admin, "frank", "1007")
    agent = await make_agent(admin, frank["id"])
    ok(await admin.delete(f"/api/users/{frank['id']}"))
    assert error(await admin.get(f"{AGENTS}/{agent['id']}"), 404)
    assert ok(await admin.get(AGENTS))["items"] == []
