"""`/calls/active`: the live legs, and their control (hangup, hold, DTMF, blind transfer).

Commands go through `CallControl`, as the WebSocket's do, and their effects reach every
surface as the same events. Hold and unhold answer once both phones have accepted the
new session descriptions, so that `{state}` is the state the call is in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from callboard.api.calls.access import (
    call_control,
    controller,
    sees_domain_calls,
    user_scope,
    visible_leg,
)
from callboard.api.calls.render import render_active
from callboard.api.calls.schemas import (
    OUT,
    ActiveCallOut,
    CommandIn,
    DtmfIn,
    HangupIn,
    StateOut,
    TransferIn,
)
from callboard.api.deps import Caller, DomainId, RuntimeDep, page_of, path_id, select_fields
from callboard.api.schemas import Page
from callboard.calls.events import LegEnded, LegEvent, LegHeld, LegResumed
from callboard.clock import now_ms
from callboard.directory.common import ListQuery
from callboard.directory.principal import Principal
from callboard.errors import InvalidInput
from callboard.realtime.live import LiveLeg
from callboard.runtime import Runtime

router = APIRouter()

#: How long hold/unhold wait for the phones to accept the new offers before answering
#: with the state the call is in then.
HOLD_SETTLE_SECONDS = 10.0


def _ids(values: list[str] | None, what: str) -> list[int]:
    return [path_id(part, what) for part in _split(values)]


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


@router.get("/active", summary="Live calls (legs)", response_model=Page[ActiveCallOut], **OUT)
async def search_active(
    caller: Caller,
    domain: DomainId,
    rt: RuntimeDep,
    page: Annotated[int, Query(ge=1, description="Page number, from 1")] = 1,
    size: Annotated[int, Query(ge=1, le=1000, description="Items per page")] = 40,
    q: Annotated[str | None, Query(description="Part of a number or a name")] = None,
    sort: Annotated[
        str | None, Query(description="`created_at` (default), `-created_at`, `timestamp`")
    ] = None,
    fields: Annotated[list[str] | None, Query(description="Fields to return")] = None,
    user_id: Annotated[list[str] | None, Query(description="Only these users' legs")] = None,
    state: Annotated[list[str] | None, Query(description="`ringing`, `active`, `hold`")] = None,
    direction: Annotated[list[str] | None, Query(description="`inbound` or `outbound`")] = None,
) -> Any:
    """The live legs: your own, or the domain's with `calls:read` or `calls:control`."""
    wide = sees_domain_calls(caller)
    users = set(user_scope(caller, _ids(user_id, "user_id"), wide))
    legs = rt.live.of_domain(domain) if wide else rt.live.of_user(caller.user_id)
    states, directions = set(_split(state)), set(_split(direction))
    needle = q.lower() if q else None
    now = now_ms()
    chosen = [
        leg
        for leg in legs
        if leg.ringing.domain_id == domain
        and (not users or leg.ringing.user_id in users)
        and (not states or leg.state in states)
        and (not directions or leg.ringing.direction.value in directions)
        and (needle is None or _matches(leg, needle))
    ]
    key = (sort or "created_at").strip()
    order: dict[str, Callable[[LiveLeg], Any]] = {
        "created_at": lambda leg: leg.ringing.timestamp,
        "timestamp": lambda leg: leg.timestamp,
    }
    if key.lstrip("+-") not in order:
        raise InvalidInput(f"cannot sort by {key.lstrip('+-')!r}; one of: created_at, timestamp")
    chosen.sort(key=lambda leg: (order[key.lstrip("+-")](leg), leg.leg_id))
    if key.startswith("-"):
        chosen.reverse()
    start = (page - 1) * size
    items = [render_active(leg, rt.node_id, now) for leg in chosen[start : start + size]]
    listing = ListQuery(page=page, size=size, fields=tuple(_split(fields)))
    return page_of(items, len(chosen) > start + size, listing)


def _matches(leg: LiveLeg, needle: str) -> bool:
    ringing = leg.ringing
    texts = (
        ringing.destination,
        ringing.caller.number,
        ringing.caller.name,
        ringing.callee.number,
        ringing.callee.name,
    )
    return any(needle in text.lower() for text in texts)


@router.get("/active/{call_id}", summary="One live call", response_model=ActiveCallOut, **OUT)
async def read_active(
    call_id: str,
    caller: Caller,
    domain: DomainId,
    rt: RuntimeDep,
    fields: Annotated[list[str] | None, Query(description="Fields to return")] = None,
) -> Any:
    leg = visible_leg(rt, caller, domain, call_id)
    return select_fields(render_active(leg, rt.node_id, now_ms()), tuple(_split(fields)))


@router.delete("/active/{call_id}", summary="Hang up a live call")
async def hangup_active(
    call_id: str,
    caller: Caller,
    domain: DomainId,
    rt: RuntimeDep,
    body: Annotated[HangupIn | None, Body()] = None,
) -> dict[str, Any]:
    """A ringing leg declines (its caller hears the cause), a ringing caller cancels, an
    answered call ends for both parties. `cause` is kept in the call history."""
    call_control(rt, call_id).hangup(
        call_id, controller(caller, domain), body.cause if body is not None else None
    )
    return {}


@router.patch("/active/{call_id}/hold", summary="Hold a call", response_model=StateOut)
async def hold_active(
    call_id: str,
    caller: Caller,
    domain: DomainId,
    rt: RuntimeDep,
    body: Annotated[CommandIn | None, Body()] = None,
) -> Any:
    return {"state": await _hold(rt, caller, domain, call_id, hold=True)}


@router.patch("/active/{call_id}/unhold", summary="Resume a held call", response_model=StateOut)
async def unhold_active(
    call_id: str,
    caller: Caller,
    domain: DomainId,
    rt: RuntimeDep,
    body: Annotated[CommandIn | None, Body()] = None,
) -> Any:
    return {"state": await _hold(rt, caller, domain, call_id, hold=False)}


async def _hold(rt: Runtime, principal: Principal, domain: int, leg_id: str, *, hold: bool) -> str:
    """Hold or resume, and wait (a while) until the leg's state says it happened."""
    control = call_control(rt, leg_id)
    settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def seen(event: LegEvent) -> None:
        done = isinstance(event, (LegEnded, LegHeld if hold else LegResumed))
        if event.leg_id == leg_id and done and not settled.done():
            settled.set_result(None)

    unsubscribe = rt.bus.subscribe(LegEvent, seen)
    try:
        control.hold(leg_id, controller(principal, domain), hold=hold)
        leg = rt.live.get(leg_id)
        if leg is not None and (leg.state == "hold") != hold:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled, HOLD_SETTLE_SECONDS)
    finally:
        unsubscribe()
    leg = rt.live.get(leg_id)
    return leg.state if leg is not None else "hangup"


@router.patch("/active/{call_id}/dtmf", summary="Send DTMF digits to the other party")
async def dtmf_active(
    call_id: str, body: DtmfIn, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> dict[str, Any]:
    """`{digit}` or `{digits}`: sent as SIP INFO (`application/dtmf-relay`), in order."""
    if (body.digit is None) == (body.digits is None):
        raise InvalidInput("give either digit (one) or digits (several)", id="app.call.bad_dtmf")
    if body.digit is not None and len(body.digit) != 1:
        raise InvalidInput("digit is one character; use digits for several", id="app.call.bad_dtmf")
    digits = body.digit if body.digit is not None else body.digits
    assert digits is not None
    call_control(rt, call_id).dtmf(call_id, controller(caller, domain), digits)
    return {}


@router.patch("/active/{call_id}/transfer", summary="Blind transfer")
async def transfer_active(
    call_id: str, body: TransferIn, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> dict[str, Any]:
    """This leg's party leaves at once; the party it talks to rings `destination` and
    is connected to it on answer."""
    destination = body.destination.strip()
    call_control(rt, call_id).blind_transfer(call_id, controller(caller, domain), destination)
    return {}
