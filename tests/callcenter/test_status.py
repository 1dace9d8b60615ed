"""The agent status state machine, without storage: every transition and refusal."""

from __future__ import annotations

import pytest

from callboard.callcenter.status import AgentState, AgentStatus, StatusChange, transition
from callboard.errors import Conflict, InvalidInput

ALLOWED = ("call", "chat")
OFFLINE = AgentState(AgentStatus.OFFLINE, None, None, False, ("call",), since=100)


def test_online_pause_offline() -> None:
    online = transition(OFFLINE, StatusChange(AgentStatus.ONLINE), allowed=ALLOWED, now=200)
    assert online == AgentState(AgentStatus.ONLINE, None, None, False, ALLOWED, since=200)
    paused = transition(
        online,
        StatusChange(AgentStatus.PAUSE, payload="lunch", comment="back at 2"),
        allowed=ALLOWED,
        now=300,
    )
    assert paused == AgentState(AgentStatus.PAUSE, "lunch", "back at 2", False, ALLOWED, 300)
    other = transition(
        paused, StatusChange(AgentStatus.PAUSE, payload="coffee"), allowed=ALLOWED, now=400
    )
    assert (other.payload, other.comment, other.since) == ("coffee", None, 400)
    offline = transition(other, StatusChange(AgentStatus.OFFLINE), allowed=ALLOWED, now=500)
    assert offline == AgentState(AgentStatus.OFFLINE, None, None, False, ALLOWED, 500)
    # Pausing straight from offline is allowed, as in the Webitel engine.
    assert (
        transition(OFFLINE, StatusChange(AgentStatus.PAUSE), allowed=ALLOWED, now=600).status
        is AgentStatus.PAUSE
    )


def test_online_again_changes_channels_but_not_the_status_time() -> None:
    online = transition(
        OFFLINE, StatusChange(AgentStatus.ONLINE, channels=("call",)), allowed=ALLOWED, now=200
    )
    same = transition(
        online, StatusChange(AgentStatus.ONLINE, channels=("call",)), allowed=ALLOWED, now=300
    )
    assert same is online  # nothing changed: nothing to announce
    wider = transition(
        online, StatusChange(AgentStatus.ONLINE, on_demand=True), allowed=ALLOWED, now=300
    )
    assert (wider.channels, wider.on_demand, wider.since) == (ALLOWED, True, 200)


@pytest.mark.parametrize(
    ("state", "change", "error", "error_id"),
    [
        (OFFLINE, StatusChange(AgentStatus.OFFLINE), Conflict, "set_logout.agent_logged_out"),
        (
            AgentState(AgentStatus.PAUSE, "lunch", None, False, ("call",), 1),
            StatusChange(AgentStatus.PAUSE, payload="lunch"),
            Conflict,
            "set_pause.payload",
        ),
        (
            OFFLINE,
            StatusChange(AgentStatus.ONLINE, channels=("task",)),
            InvalidInput,
            "channel.not_allowed",
        ),
        (OFFLINE, StatusChange(AgentStatus.ONLINE, channels=("fax",)), InvalidInput, "unknown"),
        (
            OFFLINE,
            StatusChange(AgentStatus.ONLINE, channels=("call", "call")),
            InvalidInput,
            "duplicate",
        ),
    ],
)
def test_refusals(
    state: AgentState, change: StatusChange, error: type[Exception], error_id: str
) -> None:
    with pytest.raises(error) as refused:
        transition(state, change, allowed=ALLOWED, now=999)
    assert str(getattr(refused.value, "id", "")).endswith(error_id)


def test_no_channel_to_go_online_on() -> None:
    with pytest.raises(InvalidInput, match="no allow_channels"):
        transition(OFFLINE, StatusChange(AgentStatus.ONLINE), allowed=(), now=1)
