"""The contact-centre agent over the webitel-sdk socket: what `client.agentSession()` and
its `Agent` (`online()`, `pause()`, `offline()`, `waiting()`) and
`client.subscribeAgentsStatus()` send.

Every status change goes through the agent service (the same state machine and
permissions as `PATCH /api/call_center/agents/{id}/status`); the resulting
`AgentStatusChanged` comes back through the hub as an `agent_status` event on the
agent's user's stream (and on the streams of the users who watch that agent), after
the request's reply, like every event a request causes.

`agent_id` may be left out of a request: it is then the caller's own agent. Another
agent is someone else's business: managing their status needs `agents:write`, watching
it `agents:read`; another domain's agent is "not found".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from callboard.callcenter.agents import StatusRequest, agent_channels, status_duration
from callboard.callcenter.status import AgentStatus
from callboard.clock import now_ms
from callboard.compat.webitel.events import channel_data
from callboard.directory.common import parse_id
from callboard.directory.permissions import Permission
from callboard.directory.principal import Principal
from callboard.errors import Conflict, InvalidInput
from callboard.store.models import Agent

if TYPE_CHECKING:
    from callboard.compat.webitel.socket import WebitelSession


def agent_session(agent: Agent, principal: Principal) -> dict[str, Any]:
    """The `cc_agent_session` reply (the SDK's AgentSession): `agent_id` a number,
    `channels` an array, `status_duration` in seconds."""
    return {
        "agent_id": agent.id,
        "status": agent.status,
        "status_payload": agent.status_payload,
        "status_comment": agent.status_comment,
        "last_status_change": agent.last_status_change,
        "status_duration": status_duration(agent),
        "on_demand": agent.on_demand,
        "team": None,
        "is_supervisor": agent.is_supervisor,
        "is_admin": principal.is_admin,
        "channels": [channel_data(channel) for channel in agent_channels(agent)],
        # As the engine serialises empty lists of references: null.
        "supervisor": [{"id": s.id, "name": s.user.name} for s in agent.supervisors] or None,
        "auditor": [{"id": u.id, "name": u.name} for u in agent.auditors] or None,
        "screen_control": False,
        "desc_track": False,
    }


def _principal(session: WebitelSession) -> Principal:
    principal = session.principal
    assert principal is not None
    return principal


async def _agent_id(session: WebitelSession, data: dict[str, Any]) -> int:
    """The request's `agent_id` (a number or a string of digits), or the caller's own."""
    value = data.get("agent_id")
    if value is None:
        return (await session.runtime.agents.of_user(_principal(session))).id
    try:
        return parse_id(value)
    except ValueError:
        raise InvalidInput(
            f"agent_id {value!r} is not an agent id", id="app.agent.bad_id"
        ) from None


async def _set_status(
    session: WebitelSession, data: dict[str, Any], status: AgentStatus, **fields: Any
) -> None:
    principal = _principal(session)
    agent_id = await _agent_id(session, data)
    try:
        request = StatusRequest.model_validate({"status": status, **fields})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        raise InvalidInput(problems, id="app.agent.bad_request") from None
    await session.runtime.agents.set_status(
        principal, principal.domain_id, agent_id, request.change()
    )


def _present(data: dict[str, Any], *names: str) -> dict[str, Any]:
    """The fields the client sent (the SDK leaves out the ones it has no value for)."""
    return {name: data[name] for name in names if data.get(name) is not None}


# -- the actions ---------------------------------------------------------------------------


async def cc_agent_session(session: WebitelSession, data: dict[str, Any]) -> dict[str, Any]:
    """The caller's agent; a user who is not an agent gets `app.agent.not_found`."""
    principal = _principal(session)
    return agent_session(await session.runtime.agents.of_user(principal), principal)


async def cc_agent_tasks(session: WebitelSession, data: dict[str, Any]) -> dict[str, Any]:
    """The agent's open tasks: none until queues hand out work (the SDK iterates
    `items`, so it is always an array)."""
    principal = _principal(session)
    agent_id = await _agent_id(session, data)
    await session.runtime.agents.check_own_or_managed(principal, principal.domain_id, agent_id)
    return {"items": []}


async def cc_agent_online(session: WebitelSession, data: dict[str, Any]) -> None:
    await _set_status(session, data, AgentStatus.ONLINE, **_present(data, "channels", "on_demand"))


async def cc_agent_pause(session: WebitelSession, data: dict[str, Any]) -> None:
    await _set_status(
        session, data, AgentStatus.PAUSE, **_present(data, "payload", "status_comment")
    )


async def cc_agent_offline(session: WebitelSession, data: dict[str, Any]) -> None:
    await _set_status(session, data, AgentStatus.OFFLINE, **_present(data, "status_comment"))


async def cc_agent_waiting(session: WebitelSession, data: dict[str, Any]) -> dict[str, Any]:
    """The agent is ready for work on `channel` again (after a missed offer or wrap
    time). Every channel waits until queues offer work, so this checks and confirms."""
    principal = _principal(session)
    agent_id = await _agent_id(session, data)
    agent = await session.runtime.agents.check_own_or_managed(
        principal, principal.domain_id, agent_id
    )
    channel = data.get("channel")
    if not isinstance(channel, str) or not channel:
        raise InvalidInput("channel is the channel's name, e.g. call", id="app.agent.bad_request")
    if agent.status != AgentStatus.ONLINE:
        raise Conflict(
            f"agent {agent.id} is {agent.status}, not online", id="app.agent.waiting.not_online"
        )
    if channel not in agent.channels:
        raise InvalidInput(
            f"agent {agent.id} is not online on channel {channel!r}",
            id="app.agent.channel.not_online",
        )
    return {"timestamp": now_ms()}


async def cc_agent_subscribe_status(session: WebitelSession, data: dict[str, Any]) -> None:
    """Status changes of agent `agent_id` (one's own always reach one; another's need
    `agents:read`), or without `agent_id` of every agent of the domain (`agents:read`),
    as `agent_status` events on the caller's stream while this socket is open."""
    principal = _principal(session)
    hub = session.runtime.hub
    if data.get("agent_id") is None:
        if not principal.can(Permission.AGENTS_READ):
            raise InvalidInput(
                "agent_id is required (watching every agent needs agents:read)",
                id="app.agent.bad_request",
            )
        key = ("agents_of_domain", principal.domain_id)
        if key not in session.cleanups:
            session.cleanups[key] = hub.watch_domain_agents(principal.user_id, principal.domain_id)
        return
    agent_id = await _agent_id(session, data)
    agent = await session.runtime.agents.get(principal, principal.domain_id, agent_id)
    key = ("agent", agent.id)
    if agent.user_id != principal.user_id and key not in session.cleanups:
        session.cleanups[key] = hub.watch_agent(principal.user_id, agent.id)
