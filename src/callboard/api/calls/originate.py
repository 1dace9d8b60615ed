"""`POST /calls`: click-to-call (Webitel's CreateCall), the REST twin of the socket's
`call_invite`: both read their request with `compat.webitel.invite` and start the call
through `CallControl`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from callboard.api.calls.access import controller
from callboard.api.calls.schemas import CallPartyIn, CreateCallIn, CreatedCallOut
from callboard.api.deps import Caller, DomainId, RuntimeDep
from callboard.compat.webitel import invite
from callboard.errors import InvalidInput, NotFound
from callboard.runtime import Runtime

router = APIRouter()


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
        rt.calls, controller(caller, domain), destination, params, user_id=user_id
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
