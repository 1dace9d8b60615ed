"""Call control for the APIs: commands on a leg, by the id clients know a call by.

A user controls their own legs; someone allowed to control calls controls any leg of
their domain. Another domain's leg, or an ended one, is "not found".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from callboard.calls.call import Call, CallStateError
from callboard.calls.causes import HangupCause
from callboard.calls.engine import CallEngine
from callboard.calls.legs import Leg
from callboard.calls.originate import (
    MAX_DESTINATION_RING,
    CallerId,
    OriginateOptions,
    OriginateRefused,
    Refusal,
    originate,
)
from callboard.errors import AppError, Conflict, InvalidInput, NotFound, PermissionDenied

#: What a number dialled or shown may hold: it goes into SIP URIs and headers as is.
_NUMBER = re.compile(r"[A-Za-z0-9+*._-]{1,64}")
_VARIABLE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
#: A display name goes between quotes in a From header.
_NOT_IN_NAME = re.compile(r'["\\\x00-\x1f\x7f]')
MAX_RING = 600.0
MAX_VARIABLES = 64
MAX_VARIABLE_VALUE = 1024


@dataclass(frozen=True, slots=True)
class Controller:
    """Who gives the command."""

    user_id: int
    domain_id: int
    may_control_others: bool = False


class CallControl:
    def __init__(self, engine: CallEngine) -> None:
        self.engine = engine

    def _find(self, leg_id: str, who: Controller) -> tuple[Call, Leg]:
        found = self.engine.find_leg(leg_id)
        if found is not None:
            call, leg = found
            own = leg.user_id == who.user_id
            if leg.domain_id == who.domain_id and (own or who.may_control_others) and not leg.ended:
                return call, leg
        raise NotFound(f"call {leg_id} not found", id="app.call.not_found")

    def check(self, leg_id: str, who: Controller) -> None:
        """That the leg exists and `who` may control it."""
        self._find(leg_id, who)

    def hangup(self, leg_id: str, who: Controller, cause: str | None = None) -> None:
        call, leg = self._find(leg_id, who)
        chosen = None
        if cause:
            try:
                chosen = HangupCause(cause)
            except ValueError:
                raise InvalidInput(f"unknown hangup cause {cause!r}") from None
        _run(lambda: call.api_hangup(leg, chosen))

    def hold(self, leg_id: str, who: Controller, *, hold: bool) -> None:
        call, leg = self._find(leg_id, who)
        _run(lambda: call.api_hold(leg, hold))

    def dtmf(self, leg_id: str, who: Controller, digits: str) -> None:
        if not digits or any(d not in "0123456789*#ABCD" for d in digits.upper()):
            raise InvalidInput("DTMF digits are 0-9, *, # and A-D")
        call, leg = self._find(leg_id, who)
        _run(lambda: call.api_dtmf(leg, digits.upper()))

    def blind_transfer(self, leg_id: str, who: Controller, destination: str) -> None:
        if not destination:
            raise InvalidInput("a destination is required")
        call, leg = self._find(leg_id, who)
        _run(lambda: call.blind_transfer(leg, destination))

    async def originate(
        self,
        who: Controller,
        destination: str,
        *,
        user_id: int | None = None,
        ring_timeout: float | None = None,
        destination_timeout: float | None = None,
        caller_id: CallerId | None = None,
        variables: Mapping[str, str] | None = None,
        ringing_params: Mapping[str, Any] | None = None,
    ) -> str:
        """Click-to-call (see `callboard.calls.originate`): ring the phones of `user_id`
        (default: `who`), then `destination`, and connect them. `ring_timeout` is how long
        the user's phones ring (default: the engine's ring timeout), `destination_timeout`
        how long the destination does (default: `ring_timeout`, at most 30 s). Returns the id
        of the user's leg, the id the user's clients know the call by. Fails at once,
        without ringing anything, when the user has no registered phone.
        `ringing_params` go as is into the `params` of the user's ringing event."""
        if not _NUMBER.fullmatch(destination):
            raise InvalidInput(
                "destination is a number or extension: 1-64 of A-Z a-z 0-9 + * . _ -",
                id="app.call.originate.bad_destination",
            )
        wanted = who.user_id if user_id is None else user_id
        if wanted != who.user_id and not who.may_control_others:
            raise PermissionDenied(
                "calling on behalf of another user needs the permission to control calls"
            )
        options = OriginateOptions(
            user_timeout=_seconds(
                "timeout", ring_timeout, MAX_RING, self.engine.config.ring_timeout
            ),
            destination_timeout=_seconds(
                "destination_timeout",
                destination_timeout,
                MAX_DESTINATION_RING,
                min(ring_timeout or self.engine.config.ring_timeout, MAX_DESTINATION_RING),
            ),
            caller_id=_caller_id(caller_id),
            variables=_variables(variables or {}),
            ringing_params=dict(ringing_params or {}),
        )
        user = await self.engine.directory.user(wanted)
        if user is None or user.domain_id != who.domain_id:
            raise NotFound(f"user {wanted} not found", id="app.user.not_found")
        try:
            call = await originate(self.engine, user, destination, options)
        except OriginateRefused as refused:
            raise _refusal_error(refused) from None
        return call.user_leg.id


def _seconds(name: str, value: float | None, most: float, default: float) -> float:
    if value is None:
        return default
    if not 0 < value <= most:
        raise InvalidInput(f"{name} is a number of seconds above 0, at most {most:g}")
    return float(value)


def _caller_id(value: CallerId | None) -> CallerId | None:
    if value is None or (not value.number and not value.name):
        return None
    if value.number and not _NUMBER.fullmatch(value.number):
        raise InvalidInput("the caller id number is 1-64 of A-Z a-z 0-9 + * . _ -")
    name = value.name
    if name is not None and (len(name) > 64 or _NOT_IN_NAME.search(name)):
        raise InvalidInput("the caller id name is at most 64 characters, without quotes")
    return CallerId(value.number or None, name or None)


def _variables(values: Mapping[str, str]) -> dict[str, str]:
    if len(values) > MAX_VARIABLES:
        raise InvalidInput(f"at most {MAX_VARIABLES} variables")
    for key, value in values.items():
        if not _VARIABLE.fullmatch(key):
            raise InvalidInput(f"variable name {key[:70]!r}: 1-64 of A-Z a-z 0-9 _ . : -")
        if len(value) > MAX_VARIABLE_VALUE:
            raise InvalidInput(f"variable {key}: at most {MAX_VARIABLE_VALUE} characters")
    return dict(values)


_REFUSALS: dict[Refusal, tuple[type[AppError], str]] = {
    Refusal.NO_DEVICE: (Conflict, "app.call.originate.no_device"),
    Refusal.OWN_NUMBER: (InvalidInput, "app.call.originate.own_number"),
    Refusal.UNKNOWN_DESTINATION: (InvalidInput, "app.call.originate.unknown_destination"),
    Refusal.DESTINATION_UNAVAILABLE: (Conflict, "app.call.originate.destination_unavailable"),
    Refusal.INCOMPATIBLE_MEDIA: (Conflict, "app.call.originate.incompatible_media"),
}


def _refusal_error(refused: OriginateRefused) -> AppError:
    kind, error_id = _REFUSALS[refused.refusal]
    return kind(refused.detail, id=error_id)


def _run(command: Callable[[], None]) -> None:
    try:
        command()
    except CallStateError as error:
        raise Conflict(str(error), id="app.call.state") from error
