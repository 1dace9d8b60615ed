"""What the contact centre tells the rest of the node: typed events on the bus."""

from __future__ import annotations

from dataclasses import dataclass

from callboard.callcenter.status import AgentStatus


@dataclass(frozen=True, slots=True)
class AgentChannel:
    """One channel an agent works on, and its state (`waiting` until queues offer work)."""

    channel: str
    state: str
    joined_at: int
    max_open: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStatusChanged:
    """An agent's status (or its channels, payload, on-demand flag) changed and committed."""

    agent_id: int
    user_id: int
    domain_id: int
    status: AgentStatus
    payload: str | None
    comment: str | None
    on_demand: bool
    channels: tuple[AgentChannel, ...]
    timestamp: int
