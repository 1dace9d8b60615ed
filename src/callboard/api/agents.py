"""`/api/call_center/agents`: contact-centre agents and their status (Webitel's AgentService).

Ids are strings and so are `last_status_change` and `status_duration` (int64 in the
Webitel API's JSON); `PATCH .../status` answers the agent as it now is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from callboard.api.deps import (
    Caller,
    DomainId,
    Listing,
    RuntimeDep,
    page_of,
    path_id,
    select_fields,
)
from callboard.api.schemas import ERRORS, Page, RefOut, ms, ref
from callboard.callcenter.agents import (
    AgentFilter,
    AgentSpec,
    StatusRequest,
    agent_channels,
    status_duration,
)
from callboard.callcenter.status import AgentStatus
from callboard.clock import now_ms
from callboard.errors import InvalidInput
from callboard.store.models import Agent

router = APIRouter(prefix="/call_center/agents", tags=["agents"], responses=ERRORS)


class ChannelOut(BaseModel):
    channel: str
    state: str
    joined_at: str
    max_open: int


class AgentOut(BaseModel):
    id: str | None = None
    user: RefOut | None = None
    name: str | None = None
    extension: str | None = None
    status: str | None = None
    status_payload: str | None = None
    status_comment: str | None = None
    status_duration: str | None = None
    last_status_change: str | None = None
    on_demand: bool | None = None
    channel: list[ChannelOut] | None = None
    allow_channels: list[str] | None = None
    is_supervisor: bool | None = None
    supervisor: list[RefOut] | None = None
    auditor: list[RefOut] | None = None
    team: RefOut | None = None
    region: RefOut | None = None
    skills: list[RefOut] | None = None
    progressive_count: int | None = None
    chat_count: int | None = None
    task_count: int | None = None
    greeting_media: RefOut | None = None
    description: str | None = None
    created_at: str | None = None
    created_by: RefOut | None = None
    updated_at: str | None = None
    updated_by: RefOut | None = None


def render(agent: Agent) -> dict[str, Any]:
    now = now_ms()
    return {
        "id": str(agent.id),
        "user": ref(agent.user),
        "name": agent.user.name,
        "extension": agent.user.extension,
        "status": agent.status,
        "status_payload": agent.status_payload,
        "status_comment": agent.status_comment,
        "status_duration": str(status_duration(agent, now)),
        "last_status_change": str(agent.last_status_change),
        "on_demand": agent.on_demand,
        "channel": [
            {
                "channel": c.channel,
                "state": c.state,
                "joined_at": str(c.joined_at),
                "max_open": c.max_open,
            }
            for c in agent_channels(agent)
        ],
        "allow_channels": list(agent.allow_channels),
        "is_supervisor": agent.is_supervisor,
        "supervisor": [{"id": str(s.id), "name": s.user.name} for s in agent.supervisors],
        "auditor": [ref(user) for user in agent.auditors],
        "team": None,
        "region": None,
        "skills": [],
        "progressive_count": agent.progressive_count,
        "chat_count": agent.chat_count,
        "task_count": agent.task_count,
        "greeting_media": None,
        "description": agent.description,
        "created_at": ms(agent.created_at),
        "created_by": ref(agent.created_by),
        "updated_at": ms(agent.updated_at),
        "updated_by": ref(agent.updated_by),
    }


# Fields a request left out with `fields` are absent; fields that are null are shown.
_EXCLUDE_UNSET: dict[str, Any] = {"response_model_exclude_unset": True}
_OUT: dict[str, Any] = {"response_model": AgentOut, **_EXCLUDE_UNSET}

IdList = Annotated[list[str] | None, Query(description="Any of these ids (repeat the parameter)")]


def agent_filter(
    id: IdList = None,
    user_id: IdList = None,
    status: Annotated[list[str] | None, Query(description="online, offline or pause")] = None,
    extension: Annotated[list[str] | None, Query(description="The users' extensions")] = None,
    supervisor_id: IdList = None,
    auditor_id: IdList = None,
    is_supervisor: bool | None = None,
    not_supervisor: bool = False,
) -> AgentFilter:
    statuses = []
    for value in _split(status):
        try:
            statuses.append(AgentStatus(value))
        except ValueError:
            raise InvalidInput(
                f"status {value!r} is not one of online, offline, pause",
                id="api.request.validation",
            ) from None
    return AgentFilter(
        ids=[path_id(v, "id") for v in _split(id)],
        user_ids=[path_id(v, "user_id") for v in _split(user_id)],
        statuses=statuses,
        extensions=_split(extension),
        supervisor_ids=[path_id(v, "supervisor_id") for v in _split(supervisor_id)],
        auditor_ids=[path_id(v, "auditor_id") for v in _split(auditor_id)],
        is_supervisor=is_supervisor,
        not_supervisor=not_supervisor,
    )


Filters = Annotated[AgentFilter, Depends(agent_filter)]


def _split(values: list[str] | None) -> list[str]:
    """`?id=1&id=2` and `?id=1,2` alike."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


@router.post("", summary="Make a user an agent", **_OUT)
async def create_agent(spec: AgentSpec, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    return render(await rt.agents.create(caller, domain, spec))


@router.get("", summary="Search agents", response_model=Page[AgentOut], **_EXCLUDE_UNSET)
async def search_agents(
    caller: Caller, domain: DomainId, rt: RuntimeDep, listing: Listing, where: Filters
) -> Any:
    agents, more = await rt.agents.search(caller, domain, listing, where)
    return page_of([render(agent) for agent in agents], more, listing)


@router.get("/{agent_id}", summary="Read an agent", **_OUT)
async def read_agent(
    agent_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep, listing: Listing
) -> Any:
    agent = await rt.agents.get(caller, domain, path_id(agent_id))
    return select_fields(render(agent), listing.fields)


@router.put("/{agent_id}", summary="Replace an agent", **_OUT)
async def replace_agent(
    agent_id: str, spec: AgentSpec, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    return render(await rt.agents.update(caller, domain, path_id(agent_id), spec, partial=False))


@router.patch("/{agent_id}", summary="Change some fields of an agent", **_OUT)
async def patch_agent(
    agent_id: str, spec: AgentSpec, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    return render(await rt.agents.update(caller, domain, path_id(agent_id), spec, partial=True))


@router.delete("/{agent_id}", summary="Delete an agent", **_OUT)
async def delete_agent(agent_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    return render(await rt.agents.delete(caller, domain, path_id(agent_id)))


@router.patch(
    "/{agent_id}/status",
    summary="Set an agent's status (online, pause, offline)",
    description="An agent sets their own status; `agents:write` sets anyone's. Going "
    "online takes `channels` (default: all the agent's `allow_channels`) and `on_demand`; "
    "a pause takes `payload` (its reason) and `status_comment`.",
    **_OUT,
)
async def set_agent_status(
    agent_id: str, body: StatusRequest, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    agent = await rt.agents.set_status(caller, domain, path_id(agent_id), body.change())
    return render(agent)
