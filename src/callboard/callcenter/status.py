"""An agent's status as an explicit state machine: offline, online, pause.

`transition()` is the whole rule book, free of storage and of any client protocol: it
takes the agent's status now and a requested change, and returns the next status or
raises why the change is refused. The error ids are the Webitel engine's, so the
published `webitel-sdk` recognises them (its `agent.pause()` turns
`app.agent.set_pause.not_allow` into a `PauseNotAllowedError`).

    offline --online--> online --pause--> pause --online--> online
       ^                  |                 |
       +-----offline------+-----offline-----+

Going online names the channels the agent takes work on (`call`, `chat`...), each one
of the agent's `allow_channels`; without any, all of them. Going online again while
online changes the channels or `on_demand`. Pausing keeps the channels (the agent
resumes on them); a pause with a new payload ("lunch" after "coffee") is a new pause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from callboard.errors import Conflict, InvalidInput


class AgentStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    PAUSE = "pause"


class ChannelKind(StrEnum):
    """What an agent can take work on. Only `call` carries work until queues land."""

    CALL = "call"
    CHAT = "chat"
    TASK = "task"
    EMAIL = "email"
    IM = "im"


DEFAULT_CHANNELS: tuple[str, ...] = (ChannelKind.CALL.value,)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A requested change: `cc_agent_online`/`pause`/`offline`, or `PATCH .../status`."""

    status: AgentStatus
    payload: str | None = None
    comment: str | None = None
    on_demand: bool | None = None
    channels: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class AgentState:
    status: AgentStatus
    payload: str | None
    comment: str | None
    on_demand: bool
    channels: tuple[str, ...]
    since: int


def check_channels(channels: Sequence[str], allowed: Sequence[str] | None = None) -> None:
    """Every channel is a known kind (and one of `allowed`, when given), none twice."""
    known = {kind.value for kind in ChannelKind}
    for channel in channels:
        if channel not in known:
            raise InvalidInput(
                f"unknown channel {channel!r}; one of: {', '.join(sorted(known))}",
                id="app.agent.channel.unknown",
            )
        if allowed is not None and channel not in allowed:
            raise InvalidInput(
                f"channel {channel!r} is not one of the agent's allow_channels "
                f"({', '.join(allowed) or 'none'})",
                id="app.agent.channel.not_allowed",
            )
    if len(set(channels)) != len(channels):
        raise InvalidInput("a channel is listed twice", id="app.agent.channel.duplicate")


def transition(
    current: AgentState, change: StatusChange, *, allowed: Sequence[str], now: int
) -> AgentState:
    """The agent's state after `change`; equal to `current` when nothing changes."""
    if change.status is AgentStatus.ONLINE:
        channels = change.channels or tuple(allowed)
        check_channels(channels, allowed)
        if not channels:
            raise InvalidInput(
                "the agent has no allow_channels to go online on", id="app.agent.channel.none"
            )
        on_demand = bool(change.on_demand)
        if (
            current.status is AgentStatus.ONLINE
            and current.channels == channels
            and current.on_demand == on_demand
        ):
            return current
        since = current.since if current.status is AgentStatus.ONLINE else now
        return AgentState(AgentStatus.ONLINE, None, None, on_demand, channels, since)
    if change.status is AgentStatus.PAUSE:
        if current.status is AgentStatus.PAUSE and current.payload == change.payload:
            raise Conflict("the agent is already on this pause", id="app.agent.set_pause.payload")
        return AgentState(
            AgentStatus.PAUSE,
            change.payload,
            change.comment,
            current.on_demand,
            current.channels,
            now,
        )
    if current.status is AgentStatus.OFFLINE:
        raise Conflict("the agent is already offline", id="app.agent.set_logout.agent_logged_out")
    return AgentState(AgentStatus.OFFLINE, None, change.comment, False, current.channels, now)
