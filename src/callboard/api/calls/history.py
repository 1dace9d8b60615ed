"""`/calls/history`: the search of finished legs, by query string (GET) or JSON body
(POST), both validated as one `HistorySearchIn`, answered newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import ValidationError

from callboard.api.calls.access import user_scope
from callboard.api.calls.render import render_history
from callboard.api.calls.schemas import OUT, HistoryCallOut, HistorySearchIn
from callboard.api.deps import Caller, DomainId, RuntimeDep, page_of
from callboard.api.errors import describe_validation
from callboard.api.schemas import Page
from callboard.calls.history_search import Between, CallHistory, HistoryQuery
from callboard.directory.common import ListQuery, parse_id
from callboard.directory.permissions import Permission
from callboard.directory.principal import Principal
from callboard.errors import InvalidInput
from callboard.runtime import Runtime

router = APIRouter()


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
    users = user_scope(principal, _parse_ids(form.user_id, "user_id"), wide)
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
    **OUT,
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
    **OUT,
)
async def post_search_history(
    form: HistorySearchIn, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    return await _history(rt, caller, domain, form)
