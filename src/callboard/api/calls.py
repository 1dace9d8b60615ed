"""`/api/calls`: active calls and their control, and the call history (Webitel's
`engine.CallService` paths and shapes).

An active call is one live leg, by the id every client knows it by (the `id` of the
WebSocket call events). A user sees and controls their own legs; a supervisor or
administrator (`calls:read` to see, `calls:control` to act) those of the whole domain.
Another domain's leg, or one that has ended, is a 404.

Commands go through `CallControl`, as the WebSocket's do, and their effects reach every
surface as the same events. Hold and unhold answer once both phones have accepted the
new session descriptions, so that `{state}` is the state the call is in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from callboard.api.deps import (
    Caller,
    DomainId,
    RuntimeDep,
    page_of,
    path_id,
    select_fields,
)
from callboard.api.errors import describe_validation
from callboard.api.schemas import ERRORS, Page, RefOut
from callboard.calls.control import CallControl, Controller
from callboard.calls.events import (
    Direction,
    LegEnded,
    LegEvent,
    LegHeld,
    LegResumed,
    Party,
    PartyKind,
)
from callboard.calls.history_search import Between, CallHistory, HistoryQuery, HistoryRow
from callboard.clock import now_ms
from callboard.compat.webitel import invite
from callboard.directory.common import ListQuery, parse_id
from callboard.directory.permissions import Permission
from callboard.directory.principal import Principal
from callboard.errors import InvalidInput, NotFound, PermissionDenied
from callboard.realtime.live import LiveLeg
from callboard.runtime import Runtime

router = APIRouter(prefix="/calls", tags=["calls"], responses=ERRORS)

#: How long hold/unhold wait for the phones to accept the new offers before answering
#: with the state the call is in then.
HOLD_SETTLE_SECONDS = 10.0


# --------------------------------------------------------------------------- shapes


class EndpointOut(BaseModel):
    """A party: `type` is `user` for a user of the domain, `dest` for anyone else."""

    type: str | None = None
    number: str | None = None
    id: str | None = None
    name: str | None = None


class HoldOut(BaseModel):
    start: str | None = None
    stop: str | None = None
    sec: int | None = None


class ActiveCallOut(BaseModel):
    id: str
    app_id: str | None = None
    type: str | None = None
    state: str | None = None
    timestamp: str | None = None
    parent_id: str | None = None
    user: RefOut | None = None
    extension: str | None = None
    direction: str | None = None
    destination: str | None = None
    from_: EndpointOut | None = Field(default=None, alias="from")
    to: EndpointOut | None = None
    variables: dict[str, str] | None = None
    created_at: str | None = None
    answered_at: str | None = None
    bridged_at: str | None = None
    bridged_id: str | None = None
    duration: int | None = None
    wait_sec: int | None = None
    bill_sec: int | None = None
    hold_sec: int | None = None
    hold: list[HoldOut] | None = None
    blind_transfer: str | None = None


class HistoryCallOut(BaseModel):
    id: str
    type: str | None = None
    parent_id: str | None = None
    user: RefOut | None = None
    extension: str | None = None
    gateway: RefOut | None = None
    direction: str | None = None
    destination: str | None = None
    from_: EndpointOut | None = Field(default=None, alias="from")
    to: EndpointOut | None = None
    from_number: str | None = None
    to_number: str | None = None
    variables: dict[str, str] | None = None
    created_at: str | None = None
    answered_at: str | None = None
    bridged_at: str | None = None
    hangup_at: str | None = None
    hangup_by: str | None = None
    cause: str | None = None
    sip_code: int | None = None
    duration: int | None = None
    wait_sec: int | None = None
    bill_sec: int | None = None
    talk_sec: int | None = None
    hold_sec: int | None = None
    transfer_to: str | None = None
    has_children: bool | None = None


class StateOut(BaseModel):
    state: str


_OUT: dict[str, Any] = {"response_model_exclude_none": True, "response_model_by_alias": True}

_ENDPOINT_TYPES = {PartyKind.USER.value: "user"}


def _endpoint(kind: str, number: str, name: str, user_id: int | None) -> dict[str, str]:
    return {
        "type": _ENDPOINT_TYPES.get(kind, "dest"),
        "number": number,
        "id": "" if user_id is None else str(user_id),
        "name": name or number,
    }


def _party(party: Party) -> dict[str, str]:
    return _endpoint(party.kind.value, party.number, party.name, party.user_id)


def _ms(value: int | None) -> str | None:
    return None if value is None else str(value)


def render_active(leg: LiveLeg, node_id: str, now: int) -> dict[str, Any]:
    ringing = leg.ringing
    caller, callee = ringing.caller, ringing.callee
    # Once bridged, the far party is the one the leg talks to (after a transfer, the
    # new one), as the SDK's `bridge` event makes it.
    if leg.bridged_to is not None:
        if ringing.direction is Direction.OUTBOUND:
            callee = leg.bridged_to
        else:
            caller = leg.bridged_to
    own = caller if ringing.direction is Direction.OUTBOUND else callee
    answered = leg.answered_at
    item: dict[str, Any] = {
        "id": ringing.leg_id,
        "app_id": node_id,
        "type": "call",
        "state": leg.state,
        "timestamp": str(leg.timestamp),
        "parent_id": ringing.parent_id,
        "user": None
        if ringing.user_id is None
        else {"id": str(ringing.user_id), "name": own.name or own.number},
        "extension": own.number if ringing.user_id is not None else None,
        "direction": ringing.direction.value,
        "destination": ringing.destination,
        "from": _party(caller),
        "to": _party(callee),
        "variables": dict(ringing.variables),
        "created_at": str(ringing.timestamp),
        "answered_at": _ms(answered),
        "bridged_at": _ms(leg.bridged_at),
        "bridged_id": leg.bridged_id,
        "duration": max(0, now - ringing.timestamp) // 1000,
        "wait_sec": max(0, (answered or now) - ringing.timestamp) // 1000,
        "bill_sec": 0 if answered is None else max(0, now - answered) // 1000,
        "hold_sec": leg.hold_ms(now) // 1000,
        "hold": [
            {
                "start": str(span.start),
                "stop": _ms(span.stop),
                "sec": ((span.stop or now) - span.start) // 1000,
            }
            for span in leg.holds
        ],
        "blind_transfer": leg.transfer_to,
    }
    return item


def render_history(row: HistoryRow) -> dict[str, Any]:
    r = row.record
    outbound = r.direction == Direction.OUTBOUND.value
    own_number, own_name = (r.from_number, r.from_name) if outbound else (r.to_number, r.to_name)
    wait_ms = (r.answered_at if r.answered_at is not None else r.hangup_at) - r.created_at
    return {
        "id": r.id,
        "type": "call",
        "parent_id": r.parent_id,
        "user": None if r.user_id is None else {"id": str(r.user_id), "name": own_name},
        "extension": own_number if r.user_id is not None else None,
        "gateway": None
        if r.trunk_id is None
        else {"id": str(r.trunk_id), "name": row.gateway_name or None},
        "direction": r.direction,
        "destination": r.destination,
        "from": _endpoint(r.from_type, r.from_number, r.from_name, r.from_user_id),
        "to": _endpoint(r.to_type, r.to_number, r.to_name, r.to_user_id),
        "from_number": r.from_number,
        "to_number": r.to_number,
        "variables": dict(r.variables or {}),
        "created_at": str(r.created_at),
        "answered_at": _ms(r.answered_at),
        "bridged_at": _ms(r.bridged_at),
        "hangup_at": str(r.hangup_at),
        "hangup_by": r.hangup_by,
        "cause": r.cause,
        "sip_code": r.sip_code,
        "duration": r.duration,
        "wait_sec": max(0, wait_ms) // 1000,
        "bill_sec": r.bill_sec,
        "talk_sec": max(0, r.bill_sec - r.hold_sec),
        "hold_sec": r.hold_sec,
        "transfer_to": r.transfer_to,
        "has_children": row.has_children,
    }


# --------------------------------------------------------------------------- who sees what


def _sees_domain_calls(principal: Principal) -> bool:
    return principal.can(Permission.CALLS_READ) or principal.can(Permission.CALLS_CONTROL)


def _user_scope(principal: Principal, wanted: list[int], permission: bool) -> list[int]:
    """The users whose calls a search may return: `wanted`, if the caller may see them."""
    if permission:
        return wanted
    if any(user_id != principal.user_id for user_id in wanted):
        raise PermissionDenied("only your own calls: seeing other users' calls needs calls:read")
    return [principal.user_id]


def _controller(principal: Principal, domain: int) -> Controller:
    return Controller(principal.user_id, domain, principal.can(Permission.CALLS_CONTROL))


def _control(rt: Runtime, leg_id: str) -> CallControl:
    if rt.calls is None:
        # Without the SIP side there are no calls at all.
        raise NotFound(f"call {leg_id} not found", id="app.call.not_found")
    return rt.calls


def _visible_leg(rt: Runtime, principal: Principal, domain: int, leg_id: str) -> LiveLeg:
    leg = rt.live.get(leg_id)
    if (
        leg is not None
        and leg.ringing.domain_id == domain
        and (leg.ringing.user_id == principal.user_id or _sees_domain_calls(principal))
    ):
        return leg
    raise NotFound(f"call {leg_id} not found", id="app.call.not_found")


def _ids(values: list[str] | None, what: str) -> list[int]:
    return [path_id(part, what) for part in _split(values)]


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


# --------------------------------------------------------------------------- active calls


@router.get("/active", summary="Live calls (legs)", response_model=Page[ActiveCallOut], **_OUT)
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
    wide = _sees_domain_calls(caller)
    users = set(_user_scope(caller, _ids(user_id, "user_id"), wide))
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


@router.get("/active/{call_id}", summary="One live call", response_model=ActiveCallOut, **_OUT)
async def read_active(
    call_id: str,
    caller: Caller,
    domain: DomainId,
    rt: RuntimeDep,
    fields: Annotated[list[str] | None, Query(description="Fields to return")] = None,
) -> Any:
    leg = _visible_leg(rt, caller, domain, call_id)
    return select_fields(render_active(leg, rt.node_id, now_ms()), tuple(_split(fields)))


class HangupIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cause: str | None = Field(
        default=None, max_length=64, description="A hangup cause, e.g. `NORMAL_CLEARING`"
    )
    app_id: str | None = None


class CommandIn(BaseModel):
    """Webitel's requests also carry `app_id` (the node): there is one node here."""

    model_config = ConfigDict(extra="ignore")

    app_id: str | None = None


class DtmfIn(CommandIn):
    digit: str | None = Field(default=None, description="One digit: 0-9, *, #, A-D")
    digits: str | None = Field(default=None, max_length=64, description="Several, in order")


class TransferIn(CommandIn):
    destination: str = Field(min_length=1, max_length=128, description="An extension or number")


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
    _control(rt, call_id).hangup(
        call_id, _controller(caller, domain), body.cause if body is not None else None
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
    control = _control(rt, leg_id)
    settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def seen(event: LegEvent) -> None:
        done = isinstance(event, (LegEnded, LegHeld if hold else LegResumed))
        if event.leg_id == leg_id and done and not settled.done():
            settled.set_result(None)

    unsubscribe = rt.bus.subscribe(LegEvent, seen)
    try:
        control.hold(leg_id, _controller(principal, domain), hold=hold)
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
    _control(rt, call_id).dtmf(call_id, _controller(caller, domain), digits)
    return {}


@router.patch("/active/{call_id}/transfer", summary="Blind transfer")
async def transfer_active(
    call_id: str, body: TransferIn, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> dict[str, Any]:
    """This leg's party leaves at once; the party it talks to rings `destination` and
    is connected to it on answer."""
    destination = body.destination.strip()
    _control(rt, call_id).blind_transfer(call_id, _controller(caller, domain), destination)
    return {}


# --------------------------------------------------------------------------- history


def _int64(value: Any) -> Any:
    """int64 values travel as strings (`"1700000000000"`) or numbers; both are accepted."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


Int64 = Annotated[int, BeforeValidator(_int64)]


class BetweenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Int64 | None = Field(default=None, alias="from")
    to: Int64 | None = None

    def between(self) -> Between:
        return Between(self.from_, self.to)


def _list(value: Any) -> Any:
    """A list, or one value, or a comma-separated string of them."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [
        part.strip()
        for item in items
        for part in (item.split(",") if isinstance(item, str) else [str(item)])
        if part.strip()
    ]


StrList = Annotated[list[str] | None, BeforeValidator(_list)]


class HistorySearchIn(BaseModel):
    """`POST /api/calls/history`: the filters of the GET, as a JSON body."""

    model_config = ConfigDict(extra="ignore")

    page: int = Field(default=1, ge=1)
    size: int = Field(default=40, ge=1, le=1000)
    q: str | None = Field(default=None, max_length=200)
    sort: StrList = None
    fields: StrList = None
    created_at: BetweenIn | None = None
    id: StrList = None
    user_id: StrList = None
    direction: str | None = None
    directions: StrList = None
    number: str | None = Field(default=None, max_length=128)
    duration: BetweenIn | None = None
    answered_at: BetweenIn | None = None
    cause: StrList = None
    missed: bool | None = None
    answered: bool | None = None
    parent_id: str | None = None
    skip_parent: bool | None = None
    gateway_id: StrList = None
    has_transfer: bool | None = None


def _query(form: HistorySearchIn, user_ids: list[int]) -> HistoryQuery:
    directions = list(form.directions or []) + ([form.direction] if form.direction else [])
    return HistoryQuery(
        created_at=form.created_at.between() if form.created_at else Between(),
        page=form.page,
        size=form.size,
        sort=tuple(form.sort or ()),
        q=form.q or None,
        number=form.number or None,
        ids=tuple(form.id or ()),
        user_ids=tuple(user_ids),
        directions=tuple(directions),
        duration=form.duration.between() if form.duration else Between(),
        answered_at=form.answered_at.between() if form.answered_at else Between(),
        causes=tuple(form.cause or ()),
        missed=form.missed,
        answered=form.answered,
        parent_id=form.parent_id or None,
        skip_parent=form.skip_parent,
        gateway_ids=tuple(_parse_ids(form.gateway_id, "gateway_id")),
        has_transfer=form.has_transfer,
    )


def _parse_ids(values: list[str] | None, what: str) -> list[int]:
    found = []
    for value in values or []:
        try:
            found.append(parse_id(value))
        except ValueError:
            raise InvalidInput(f"{what} {value!r} is not a valid id") from None
    return found


def history_form(
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=1000)] = 40,
    q: Annotated[str | None, Query(max_length=200, description="Part of a number or name")] = None,
    sort: Annotated[list[str] | None, Query(description="e.g. `-created_at` (default)")] = None,
    fields: Annotated[list[str] | None, Query(description="Fields to return")] = None,
    created_at_from: Annotated[
        str | None, Query(alias="created_at.from", description="Required, ms")
    ] = None,
    created_at_to: Annotated[
        str | None, Query(alias="created_at.to", description="Required, ms")
    ] = None,
    id: Annotated[list[str] | None, Query(description="Leg ids")] = None,
    user_id: Annotated[list[str] | None, Query()] = None,
    direction: Annotated[str | None, Query(description="`inbound` or `outbound`")] = None,
    directions: Annotated[list[str] | None, Query()] = None,
    number: Annotated[str | None, Query(max_length=128, description="From, to or dialled")] = None,
    duration_from: Annotated[str | None, Query(alias="duration.from", description="s")] = None,
    duration_to: Annotated[str | None, Query(alias="duration.to", description="s")] = None,
    answered_at_from: Annotated[str | None, Query(alias="answered_at.from")] = None,
    answered_at_to: Annotated[str | None, Query(alias="answered_at.to")] = None,
    cause: Annotated[list[str] | None, Query()] = None,
    missed: Annotated[bool | None, Query(description="Inbound and never bridged")] = None,
    answered: Annotated[bool | None, Query()] = None,
    parent_id: Annotated[str | None, Query()] = None,
    skip_parent: Annotated[bool | None, Query(description="Only legs without a parent")] = None,
    gateway_id: Annotated[list[str] | None, Query(description="Trunk ids")] = None,
    has_transfer: Annotated[bool | None, Query()] = None,
) -> HistorySearchIn:
    """The GET's query string as the POST's body (one validation for both)."""

    def between(start: str | None, end: str | None) -> dict[str, str] | None:
        if start is None and end is None:
            return None
        return {k: v for k, v in (("from", start), ("to", end)) if v is not None}

    given = {
        "page": page,
        "size": size,
        "q": q,
        "sort": sort,
        "fields": fields,
        "created_at": between(created_at_from, created_at_to),
        "id": id,
        "user_id": user_id,
        "direction": direction,
        "directions": directions,
        "number": number,
        "duration": between(duration_from, duration_to),
        "answered_at": between(answered_at_from, answered_at_to),
        "cause": cause,
        "missed": missed,
        "answered": answered,
        "parent_id": parent_id,
        "skip_parent": skip_parent,
        "gateway_id": gateway_id,
        "has_transfer": has_transfer,
    }
    try:
        return HistorySearchIn.model_validate(given)
    except ValidationError as error:
        raise describe_validation(error.errors()) from None


async def _history(
    rt: Runtime, principal: Principal, domain: int, form: HistorySearchIn
) -> dict[str, Any]:
    """A user sees their own legs; `calls:read` the domain's."""
    wide = principal.can(Permission.CALLS_READ)
    users = _user_scope(principal, _parse_ids(form.user_id, "user_id"), wide)
    query = _query(form, users)
    rows, more = await CallHistory(rt.db).search(
        domain, query, only_user=None if wide else principal.user_id
    )
    listing = ListQuery(page=query.page, size=query.size, fields=tuple(form.fields or ()))
    return page_of([render_history(row) for row in rows], more, listing)


_HISTORY_DOC = """Finished legs, newest first. `created_at.from` and `created_at.to` (ms) are
required. Filters: `id`, `user_id`, `direction`/`directions`, `number` (from, to or
dialled; `*` wildcard), `q` (numbers and names), `duration.from/.to` (s),
`answered_at.from/.to`, `cause`, `missed`, `answered`, `parent_id`, `skip_parent`,
`gateway_id`, `has_transfer`; `sort` by created_at, answered_at, bridged_at, hangup_at,
duration, bill_sec, hold_sec, direction, destination, from_number, to_number, cause,
sip_code, hangup_by or id."""


@router.get(
    "/history",
    summary="Search the call history",
    description=_HISTORY_DOC,
    response_model=Page[HistoryCallOut],
    **_OUT,
)
async def search_history(
    caller: Caller,
    domain: DomainId,
    rt: RuntimeDep,
    form: Annotated[HistorySearchIn, Depends(history_form)],
) -> Any:
    return await _history(rt, caller, domain, form)


@router.post(
    "/history",
    summary="Search the call history (filters in the body)",
    description=_HISTORY_DOC,
    response_model=Page[HistoryCallOut],
    **_OUT,
)
async def post_search_history(
    form: HistorySearchIn, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    return await _history(rt, caller, domain, form)


# --------------------------------------------------------------------------- click-to-call


class CallPartyIn(BaseModel):
    """`from` or `to` of CreateCall: a user of the domain by `id`, or by `extension`."""

    model_config = ConfigDict(extra="ignore")

    id: Int64 | None = None
    extension: str | None = Field(default=None, max_length=64)
    type: str | None = None
    app_id: str | None = None


class CreateCallIn(BaseModel):
    """Webitel's CreateCall. `params`: `timeout` (s, the user's phones),
    `destination_timeout` (s, the destination; at most 30), `display` (the caller id
    number the destination sees), `display_name`, `variables` (strings, into every leg's
    events and history); the SDK's media hints are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    from_: CallPartyIn | None = Field(default=None, alias="from")
    to: CallPartyIn | None = None
    destination: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] | None = None


class CreatedCallOut(BaseModel):
    id: str


@router.post("", summary="Click-to-call", response_model=CreatedCallOut)
async def create_call(body: CreateCallIn, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    """Ring the phones of `from` (default: you) first; once one answers, call
    `destination` (an extension, or a number through a trunk) and connect the two.
    Answers at once with the id of the user's call (the id of its WebSocket events);
    each stage then shows as call events. `from` another user needs `calls:control`.
    A user with no registered phone is a `409` straight away, nothing rings."""
    if rt.calls is None:
        raise InvalidInput("calls are not served here", id="app.call.unavailable")
    params = invite.invite_params(body.params)
    destination = await _create_destination(rt, domain, body)
    user_id = await _create_user(rt, domain, body.from_)
    leg_id = await invite.start(
        rt.calls, _controller(caller, domain), destination, params, user_id=user_id
    )
    return {"id": leg_id}


async def _create_destination(rt: Runtime, domain: int, body: CreateCallIn) -> str:
    if body.destination is not None:
        return invite.destination_of(body.destination)
    to = body.to
    if to is not None and to.extension:
        return invite.destination_of(to.extension, "to.extension")
    if to is not None and to.id is not None:
        user = await rt.directory.user(to.id)
        if user is None or user.domain_id != domain:
            raise NotFound(f"user {to.id} not found", id="app.user.not_found")
        if not user.extension:
            raise InvalidInput(f"user {to.id} has no extension to call")
        return user.extension
    raise InvalidInput("destination (or to) is required", id="app.call.originate.no_destination")


async def _create_user(rt: Runtime, domain: int, party: CallPartyIn | None) -> int | None:
    """Whose phones ring first: `from.id`, or the user of `from.extension`."""
    if party is None:
        return None
    if party.id is not None:
        return party.id
    if party.extension:
        user = await rt.directory.user_by_extension(domain, party.extension)
        if user is None:
            raise NotFound(f"no user has extension {party.extension}", id="app.user.not_found")
        return user.user_id
    return None
