"""Who sees and controls which calls: a user their own legs; `calls:read` (to see) or
`calls:control` (to act) the whole domain's. Anything else, another domain's leg, or one
that has ended, is a 404 (or a 403 for a search that names other users)."""

from __future__ import annotations

from callboard.calls.control import CallControl, Controller
from callboard.directory.permissions import Permission
from callboard.directory.principal import Principal
from callboard.errors import NotFound, PermissionDenied
from callboard.realtime.live import LiveLeg
from callboard.runtime import Runtime


def sees_domain_calls(principal: Principal) -> bool:
    return principal.can(Permission.CALLS_READ) or principal.can(Permission.CALLS_CONTROL)


def user_scope(principal: Principal, wanted: list[int], permission: bool) -> list[int]:
    """The users whose calls a search may return: `wanted`, if the caller may see them."""
    if permission:
        return wanted
    if any(user_id != principal.user_id for user_id in wanted):
        raise PermissionDenied("only your own calls: seeing other users' calls needs calls:read")
    return [principal.user_id]


def controller(principal: Principal, domain: int) -> Controller:
    """Who a command comes from, as CallControl checks it."""
    return Controller(principal.user_id, domain, principal.can(Permission.CALLS_CONTROL))


def call_control(rt: Runtime, leg_id: str) -> CallControl:
    if rt.calls is None:
        # Without the SIP side there are no calls at all.
        raise NotFound(f"call {leg_id} not found", id="app.call.not_found")
    return rt.calls


def visible_leg(rt: Runtime, principal: Principal, domain: int, leg_id: str) -> LiveLeg:
    """The live leg `leg_id`, if the caller may see it; else a 404."""
    leg = rt.live.get(leg_id)
    if (
        leg is not None
        and leg.ringing.domain_id == domain
        and (leg.ringing.user_id == principal.user_id or sees_domain_calls(principal))
    ):
        return leg
    raise NotFound(f"call {leg_id} not found", id="app.call.not_found")
