"""Call control for the APIs: commands on a leg, by the id clients know a call by.

A user controls their own legs; someone allowed to control calls controls any leg of
their domain. Another domain's leg, or an ended one, is "not found".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from callboard.calls.call import Call, CallStateError
from callboard.calls.causes import HangupCause
from callboard.calls.engine import CallEngine
from callboard.calls.legs import Leg
from callboard.errors import Conflict, InvalidInput, NotFound


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


def _run(command: Callable[[], None]) -> None:
    try:
        command()
    except CallStateError as error:
        raise Conflict(str(error), id="app.call.state") from error
