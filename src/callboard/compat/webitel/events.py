"""A user's numbered events as webitel-sdk frames: `call` for leg events, `user_call`
for those of the users whose calls the user watches, `agent_status` for agent status
changes. One place, so live delivery and `events_since` replay agree."""

from __future__ import annotations

from typing import Any

from callboard.callcenter.events import AgentChannel, AgentStatusChanged
from callboard.compat.webitel.calls import call_event
from callboard.realtime.hub import UserEvent


def channel_data(channel: AgentChannel) -> dict[str, Any]:
    """A `Channel` of the SDK: `{channel, state, joined_at, open, max_open, no_answer}`."""
    return {
        "channel": channel.channel,
        "state": channel.state,
        "joined_at": channel.joined_at,
        "open": 0,
        "max_open": channel.max_open,
        "no_answer": 0,
    }


def agent_status_data(event: AgentStatusChanged) -> dict[str, Any]:
    """The `agent_status` event's data. Ids are numbers (the SDK compares `agent_id` with
    its agent's with `===`); `channels` is always an array (the SDK iterates it when the
    status is online)."""
    return {
        "agent_id": event.agent_id,
        "user_id": event.user_id,
        "domain_id": event.domain_id,
        "timestamp": event.timestamp,
        "status": event.status.value,
        "status_payload": event.payload,
        "status_comment": event.comment,
        "on_demand": event.on_demand,
        "channels": [channel_data(channel) for channel in event.channels],
    }


def event_frame(numbered: UserEvent, node_id: str) -> dict[str, Any] | None:
    """The frame for one event of the user's stream; None for what the SDK has no name
    for (it must never see an event it does not handle)."""
    event = numbered.event
    if isinstance(event, AgentStatusChanged):
        return {"event": "agent_status", "data": agent_status_data(event), "seq": numbered.seq}
    payload = call_event(event, node_id)
    if payload is None:
        return None
    if event.user_id != numbered.user_id:
        # Another user's call, watched (`subscribe_user_calls`): not a call of this
        # user's, so not a `call` event, which the SDKs would take for their own. The
        # published webitel-sdk only logs an event name it does not know.
        return {"event": "user_call", "data": payload, "seq": numbered.seq}
    return {"event": "call", "data": payload, "seq": numbered.seq}
