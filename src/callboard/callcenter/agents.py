"""Agents: the users who take contact-centre work, and the service that keeps them.

An agent is one user of the domain (never two agents for one user). Administrators and
supervisors (`agents:write`) create, change and delete agents and may set any agent's
status; every agent may read their own record and set their own status. Another
domain's agent does not exist for the caller (404).

Status changes go through the state machine of `callcenter.status`; each one that
changes something is published as `AgentStatusChanged` once its transaction commits,
so every surface (the webitel-sdk socket, later queues and reports) hears of it exactly
when it is true.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from callboard.callcenter.events import AgentChannel, AgentStatusChanged
from callboard.callcenter.status import (
    DEFAULT_CHANNELS,
    AgentState,
    AgentStatus,
    ChannelKind,
    StatusChange,
    check_channels,
    transition,
)
from callboard.clock import now_ms
from callboard.directory.common import ListQuery, Ref, fetch_page, flush
from callboard.directory.permissions import Permission
from callboard.directory.principal import Principal
from callboard.errors import Conflict, InvalidInput, NotFound
from callboard.store.database import Database, publish_after_commit
from callboard.store.models import Agent, AgentAuditor, AgentSupervisor, User

AGENT_LOAD = (
    selectinload(Agent.user),
    selectinload(Agent.supervisors).selectinload(Agent.user),
    selectinload(Agent.auditors),
    selectinload(Agent.created_by),
    selectinload(Agent.updated_by),
)


def _empty_ref(value: Any) -> Any:
    """`{}` (what generated clients send for "none") is no reference."""
    return None if value == {} else value


class AgentSpec(BaseModel):
    """The writable fields of an agent, as the Webitel `CreateAgentRequest` names them.

    `team`, `region` and `greeting_media` are accepted as empty placeholders: teams,
    regions and media files do not exist yet, so naming one is an error.
    """

    model_config = ConfigDict(extra="ignore")

    user: Ref | None = None
    description: str | None = Field(default=None, max_length=500)
    allow_channels: list[str] | None = None
    is_supervisor: bool | None = None
    progressive_count: int | None = Field(default=None, ge=1, le=100)
    chat_count: int | None = Field(default=None, ge=0, le=100)
    task_count: int | None = Field(default=None, ge=0, le=100)
    supervisor: list[Ref] | None = None
    auditor: list[Ref] | None = None
    team: Ref | None = None
    region: Ref | None = None
    greeting_media: Ref | None = None

    @field_validator("user", "team", "region", "greeting_media", mode="before")
    @classmethod
    def _empty_refs(cls, value: Any) -> Any:
        return _empty_ref(value)

    @field_validator("allow_channels")
    @classmethod
    def _channels(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            try:
                check_channels(value)
            except InvalidInput as error:
                raise ValueError(error.detail) from None
        return value


class StatusRequest(BaseModel):
    """`PATCH /call_center/agents/{id}/status`: `{status, payload?, status_comment?,
    on_demand?, channels?}`."""

    model_config = ConfigDict(extra="ignore")

    status: AgentStatus
    payload: str | None = Field(default=None, max_length=200)
    status_comment: str | None = Field(default=None, max_length=500)
    on_demand: bool | None = None
    channels: list[str] | None = Field(default=None, max_length=len(ChannelKind))

    def change(self) -> StatusChange:
        return StatusChange(
            status=self.status,
            payload=self.payload or None,
            comment=self.status_comment or None,
            on_demand=self.on_demand,
            channels=None if self.channels is None else tuple(self.channels),
        )


@dataclass(frozen=True)
class AgentFilter:
    """The list filters of `GET /call_center/agents` (each list: any of its values)."""

    ids: Sequence[int] = ()
    user_ids: Sequence[int] = ()
    statuses: Sequence[AgentStatus] = ()
    extensions: Sequence[str] = ()
    supervisor_ids: Sequence[int] = ()
    auditor_ids: Sequence[int] = ()
    is_supervisor: bool | None = None
    not_supervisor: bool = False


_PLAIN_DEFAULTS: dict[str, Any] = {
    "description": "",
    "is_supervisor": False,
    "progressive_count": 1,
    "chat_count": 1,
    "task_count": 1,
}
_WRITABLE = frozenset(_PLAIN_DEFAULTS) | {"allow_channels", "supervisor", "auditor"}


def max_open(agent: Agent, channel: str) -> int:
    """How much work of `channel` the agent takes at once."""
    if channel == ChannelKind.CHAT:
        return agent.chat_count
    if channel == ChannelKind.TASK:
        return agent.task_count
    return 1


def agent_channels(agent: Agent) -> tuple[AgentChannel, ...]:
    """The agent's channels and their states. Until queues offer work, every channel of
    the agent is `waiting`, since the agent's last status change."""
    return tuple(
        AgentChannel(channel, "waiting", agent.last_status_change, max_open(agent, channel))
        for channel in agent.channels
    )


def status_duration(agent: Agent, now: int | None = None) -> int:
    """Whole seconds in the current status."""
    return max(0, ((now_ms() if now is None else now) - agent.last_status_change) // 1000)


def _state(agent: Agent) -> AgentState:
    return AgentState(
        status=AgentStatus(agent.status),
        payload=agent.status_payload,
        comment=agent.status_comment,
        on_demand=agent.on_demand,
        channels=tuple(agent.channels),
        since=agent.last_status_change,
    )


def _announce(session: AsyncSession, agent: Agent, timestamp: int) -> None:
    publish_after_commit(
        session,
        AgentStatusChanged(
            agent_id=agent.id,
            user_id=agent.user_id,
            domain_id=agent.domain_id,
            status=AgentStatus(agent.status),
            payload=agent.status_payload,
            comment=agent.status_comment,
            on_demand=agent.on_demand,
            channels=agent_channels(agent),
            timestamp=timestamp,
        ),
    )


class AgentService:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- the records -----------------------------------------------------------------------

    async def create(self, principal: Principal, domain_id: int, spec: AgentSpec) -> Agent:
        principal.require(Permission.AGENTS_WRITE)
        if spec.user is None:
            raise InvalidInput(
                'an agent needs a user: {"user": {"id": "<user id>"}}', id="app.agent.user_required"
            )
        _check_placeholders(spec)
        now = now_ms()
        async with self.db.transaction() as session:
            user = await session.scalar(
                select(User).where(User.id == spec.user.id, User.domain_id == domain_id)
            )
            if user is None:
                raise InvalidInput(f"user {spec.user.id} not found", id="app.user.not_found")
            existing = await session.scalar(select(Agent.id).where(Agent.user_id == user.id))
            if existing is not None:
                raise Conflict(
                    f"user {user.id} is already agent {existing}", id="app.agent.user_exists"
                )
            allow = list(
                spec.allow_channels if spec.allow_channels is not None else DEFAULT_CHANNELS
            )
            agent = Agent(
                domain_id=domain_id,
                user_id=user.id,
                status=AgentStatus.OFFLINE.value,
                last_status_change=now,
                on_demand=False,
                allow_channels=allow,
                channels=list(allow),
                created_at=now,
                created_by_id=principal.user_id,
                updated_at=now,
                updated_by_id=principal.user_id,
            )
            for name, default in _PLAIN_DEFAULTS.items():
                value = getattr(spec, name)
                setattr(agent, name, default if value is None else value)
            agent.supervisors = await _supervisors(session, domain_id, spec.supervisor or [], None)
            agent.auditors = await _auditors(session, domain_id, spec.auditor or [])
            session.add(agent)
            await flush(session)
            return await _load(session, domain_id, agent.id)

    async def search(
        self,
        principal: Principal,
        domain_id: int,
        query: ListQuery,
        where: AgentFilter | None = None,
    ) -> tuple[list[Agent], bool]:
        where = where or AgentFilter()
        statement = (
            select(Agent)
            .join(User, Agent.user_id == User.id)
            .where(Agent.domain_id == domain_id)
            .options(*AGENT_LOAD)
        )
        if not principal.can(Permission.AGENTS_READ):
            statement = statement.where(Agent.user_id == principal.user_id)
        if where.ids:
            statement = statement.where(Agent.id.in_(where.ids))
        if where.user_ids:
            statement = statement.where(Agent.user_id.in_(where.user_ids))
        if where.statuses:
            statement = statement.where(Agent.status.in_([s.value for s in where.statuses]))
        if where.extensions:
            statement = statement.where(User.extension.in_(where.extensions))
        if where.is_supervisor is not None:
            statement = statement.where(Agent.is_supervisor.is_(where.is_supervisor))
        if where.not_supervisor:
            statement = statement.where(Agent.is_supervisor.is_(False))
        if where.supervisor_ids:
            statement = statement.where(
                Agent.id.in_(
                    select(AgentSupervisor.agent_id).where(
                        AgentSupervisor.supervisor_id.in_(where.supervisor_ids)
                    )
                )
            )
        if where.auditor_ids:
            statement = statement.where(
                Agent.id.in_(
                    select(AgentAuditor.agent_id).where(AgentAuditor.user_id.in_(where.auditor_ids))
                )
            )
        async with self.db.transaction() as session:
            return await fetch_page(
                session,
                statement,
                query,
                search=(User.name, User.username, User.extension, Agent.description),
                sortable={
                    "id": Agent.id,
                    "name": User.name,
                    "extension": User.extension,
                    "status": Agent.status,
                    "last_status_change": Agent.last_status_change,
                    "is_supervisor": Agent.is_supervisor,
                },
                default_sort=Agent.id,
            )

    async def get(self, principal: Principal, domain_id: int, agent_id: int) -> Agent:
        async with self.db.transaction() as session:
            agent = await _load(session, domain_id, agent_id)
        _may_read(principal, agent)
        return agent

    async def of_user(self, principal: Principal) -> Agent:
        """The caller's own agent; a clear 404 when the user is not an agent."""
        async with self.db.transaction() as session:
            agent = await session.scalar(
                select(Agent)
                .where(Agent.user_id == principal.user_id, Agent.domain_id == principal.domain_id)
                .options(*AGENT_LOAD)
            )
        if agent is None:
            raise NotFound(
                f"user {principal.user_id} is not an agent (an administrator makes one with "
                "POST /api/call_center/agents)",
                id="app.agent.not_found",
            )
        return agent

    async def update(
        self,
        principal: Principal,
        domain_id: int,
        agent_id: int,
        spec: AgentSpec,
        *,
        partial: bool,
    ) -> Agent:
        principal.require(Permission.AGENTS_WRITE)
        _check_placeholders(spec)
        fields = set(spec.model_fields_set) & _WRITABLE if partial else set(_WRITABLE)
        now = now_ms()
        async with self.db.transaction() as session:
            agent = await _load(session, domain_id, agent_id, lock=True)
            if spec.user is not None and spec.user.id != agent.user_id:
                raise InvalidInput(
                    "an agent's user cannot change: delete the agent and make one for the "
                    "other user",
                    id="app.agent.user_fixed",
                )
            for name, default in _PLAIN_DEFAULTS.items():
                if name in fields:
                    value = getattr(spec, name)
                    setattr(agent, name, default if value is None else value)
            if "is_supervisor" in fields and not agent.is_supervisor:
                await _check_supervises_nobody(session, agent)
            if "supervisor" in fields:
                agent.supervisors = await _supervisors(
                    session, domain_id, spec.supervisor or [], agent.id
                )
            if "auditor" in fields:
                agent.auditors = await _auditors(session, domain_id, spec.auditor or [])
            if "allow_channels" in fields:
                before = _state(agent)
                allow = spec.allow_channels
                agent.allow_channels = list(DEFAULT_CHANNELS if allow is None else allow)
                kept = [c for c in agent.channels if c in agent.allow_channels]
                agent.channels = kept or list(agent.allow_channels)
                if before.status is not AgentStatus.OFFLINE and _state(agent) != before:
                    _announce(session, agent, now)
            agent.updated_at = now
            agent.updated_by_id = principal.user_id
            await flush(session)
            return await _load(session, domain_id, agent.id)

    async def delete(self, principal: Principal, domain_id: int, agent_id: int) -> Agent:
        """Delete an agent; one that was not offline is announced as going offline."""
        principal.require(Permission.AGENTS_WRITE)
        now = now_ms()
        async with self.db.transaction() as session:
            agent = await _load(session, domain_id, agent_id, lock=True)
            await _check_supervises_nobody(session, agent)
            if agent.status != AgentStatus.OFFLINE:
                _announce_offline(session, agent, now)
            await session.delete(agent)
            return agent

    # -- status ----------------------------------------------------------------------------

    async def set_status(
        self, principal: Principal, domain_id: int, agent_id: int, change: StatusChange
    ) -> Agent:
        """Apply `change` (the agent themself, or `agents:write`); announce it if it
        changed anything. Returns the agent as it now is."""
        now = now_ms()
        async with self.db.transaction() as session:
            agent = await _load(session, domain_id, agent_id, lock=True)
            if agent.user_id != principal.user_id:
                principal.require(Permission.AGENTS_WRITE)
            current = _state(agent)
            after = transition(current, change, allowed=agent.allow_channels, now=now)
            if after != current:
                agent.status = after.status.value
                agent.status_payload = after.payload
                agent.status_comment = after.comment
                agent.on_demand = after.on_demand
                agent.channels = list(after.channels)
                agent.last_status_change = after.since
                await flush(session)
                _announce(session, agent, now)
            return agent

    async def check_own_or_managed(
        self, principal: Principal, domain_id: int, agent_id: int
    ) -> Agent:
        """The agent, if the caller is that agent or may manage agents (else 403/404)."""
        async with self.db.transaction() as session:
            agent = await _load(session, domain_id, agent_id)
        if agent.user_id != principal.user_id:
            principal.require(Permission.AGENTS_WRITE)
        return agent


def _may_read(principal: Principal, agent: Agent) -> None:
    if agent.user_id != principal.user_id:
        principal.require(Permission.AGENTS_READ)


def _announce_offline(session: AsyncSession, agent: Agent, now: int) -> None:
    agent.status = AgentStatus.OFFLINE.value
    agent.status_payload = None
    agent.status_comment = None
    agent.on_demand = False
    agent.last_status_change = now
    _announce(session, agent, now)


async def _check_supervises_nobody(session: AsyncSession, agent: Agent) -> None:
    """A supervisor who still supervises agents can be neither deleted nor demoted."""
    supervised = await session.scalar(
        select(AgentSupervisor.agent_id).where(AgentSupervisor.supervisor_id == agent.id)
    )
    if supervised is not None:
        raise Conflict(
            f"agent {agent.id} supervises agent {supervised}: take it off their supervisors first",
            id="app.agent.supervises_agents",
        )


def _check_placeholders(spec: AgentSpec) -> None:
    for name, kind in (("team", "team"), ("region", "region"), ("greeting_media", "media file")):
        ref: Ref | None = getattr(spec, name)
        if ref is not None:
            raise InvalidInput(
                f"{kind} {ref.id} not found ({kind}s are not available yet)",
                id=f"app.{name}.not_found",
            )


async def _supervisors(
    session: AsyncSession, domain_id: int, refs: list[Ref], own_id: int | None
) -> list[Agent]:
    ids = list(dict.fromkeys(ref.id for ref in refs))
    if own_id is not None and own_id in ids:
        raise InvalidInput("an agent cannot supervise themself", id="app.agent.self_supervisor")
    if not ids:
        return []
    found = list(
        await session.scalars(select(Agent).where(Agent.id.in_(ids), Agent.domain_id == domain_id))
    )
    missing = set(ids) - {agent.id for agent in found}
    if missing:
        raise InvalidInput(
            f"supervisor {min(missing)} not found (a supervisor is an agent)",
            id="app.agent.supervisor_not_found",
        )
    for agent in found:
        if not agent.is_supervisor:
            raise InvalidInput(
                f"agent {agent.id} is not a supervisor (is_supervisor is false)",
                id="app.agent.not_supervisor",
            )
    return found


async def _auditors(session: AsyncSession, domain_id: int, refs: list[Ref]) -> list[User]:
    ids = list(dict.fromkeys(ref.id for ref in refs))
    if not ids:
        return []
    found = list(
        await session.scalars(select(User).where(User.id.in_(ids), User.domain_id == domain_id))
    )
    missing = set(ids) - {user.id for user in found}
    if missing:
        raise InvalidInput(
            f"auditor {min(missing)} not found (an auditor is a user)", id="app.user.not_found"
        )
    return found


async def _load(
    session: AsyncSession, domain_id: int, agent_id: int, *, lock: bool = False
) -> Agent:
    session.expire_all()
    statement = (
        select(Agent).where(Agent.id == agent_id, Agent.domain_id == domain_id).options(*AGENT_LOAD)
    )
    if lock:
        # Concurrent status changes of one agent apply one after the other (PostgreSQL;
        # SQLite serialises writers anyway), so their events are published in order.
        statement = statement.with_for_update(of=Agent)
    agent = await session.scalar(statement)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found", id="app.agent.not_found")
    return agent
