"""The click-to-call request as Webitel's clients send it: the `params` object of the
socket's `call_invite` and of `POST /api/calls` (CreateCall), read into CallControl's
terms.

`params.timeout` is how long the user's phones ring (seconds); Callboard adds
`destination_timeout` (how long the destination rings; default the same, at most 30 s)
and `display_name`. `display` is the caller id number the destination is shown,
`variables` (strings) go into every leg's events (`payload`) and history record. The
SDK's hints for its own phone (`autoAnswer`, `audio`, `video`, `screen`, `disableStun`)
go back to it in the `params` of the user's `ringing` event, as the Webitel engine does:
with `autoAnswer` the SDK answers its web phone's call at once, so a click-to-call from a
browser needs no click to pick up. Other keys (`contactId`...) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callboard.calls.control import CallControl, Controller
from callboard.calls.originate import CallerId
from callboard.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class InviteParams:
    ring_timeout: float | None = None
    destination_timeout: float | None = None
    caller_id: CallerId | None = None
    variables: dict[str, str] = field(default_factory=dict)
    hints: dict[str, Any] = field(default_factory=dict)


#: The SDK's own call options, handed back in the ringing event's `params`.
_HINTS = ("autoAnswer", "audio", "video", "screen", "disableStun")


def invite_params(params: object, where: str = "params") -> InviteParams:
    """Read a `params` object; a wrong type is a clear `InvalidInput`."""
    if params is None:
        return InviteParams()
    if not isinstance(params, dict):
        raise InvalidInput(f"{where} is an object")
    number = _text(params.get("display"), f"{where}.display")
    name = _text(params.get("display_name"), f"{where}.display_name")
    return InviteParams(
        ring_timeout=_seconds(params.get("timeout"), f"{where}.timeout"),
        destination_timeout=_seconds(
            params.get("destination_timeout"), f"{where}.destination_timeout"
        ),
        caller_id=CallerId(number, name) if number or name else None,
        variables=_variables(params.get("variables"), f"{where}.variables"),
        hints=_hints(params, where),
    )


def destination_of(value: object, where: str = "destination") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{where} is the number to call (a string)")
    return value.strip()


async def start(
    control: CallControl,
    who: Controller,
    destination: str,
    params: InviteParams,
    *,
    user_id: int | None = None,
) -> str:
    """Start the click-to-call; the id of the user's leg."""
    return await control.originate(
        who,
        destination,
        user_id=user_id,
        ring_timeout=params.ring_timeout,
        destination_timeout=params.destination_timeout,
        caller_id=params.caller_id,
        variables=params.variables,
        ringing_params=params.hints,
    )


def _seconds(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where} is a number of seconds")
    return float(value)


def _text(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{where} is a string")
    return value


def _hints(params: dict[str, Any], where: str) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    for name in _HINTS:
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, bool | int | float | str) or len(str(value)) > 32:
            raise InvalidInput(f"{where}.{name} is a boolean, a number or a short string")
        hints[name] = value
    return hints


def _variables(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} is an object of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise InvalidInput(f"{where}.{str(key)[:64]} is a string")
    return dict(value)
