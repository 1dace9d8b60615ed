"""`/api/users/{id}/tokens`: integration tokens, shown once and stored only as a hash."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from callboard.api.deps import Caller, DomainId, Listing, RuntimeDep, page_of, path_id
from callboard.api.schemas import ERRORS, Page, RefOut, ms, ref
from callboard.directory.tokens import TokenSpec
from callboard.store.models import AccessToken

router = APIRouter(prefix="/users/{user_id}/tokens", tags=["tokens"], responses=ERRORS)


class TokenOut(BaseModel):
    id: str | None = None
    token: str | None = None
    usage: str | None = None
    user: RefOut | None = None
    created_at: str | None = None
    created_by: RefOut | None = None
    updated_at: str | None = None
    updated_by: RefOut | None = None


def render(row: AccessToken, token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "usage": row.usage,
        "user": {"id": str(row.user_id)},
        "created_at": ms(row.created_at),
        "created_by": ref(row.created_by),
        "updated_at": ms(row.updated_at),
        "updated_by": ref(row.updated_by),
    }
    if token is not None:
        body["token"] = token
    return body


_OUT: dict[str, Any] = {"response_model": TokenOut, "response_model_exclude_none": True}


@router.post("", summary="Create a token; the answer is the only time it is shown", **_OUT)
async def create_token(
    user_id: str, spec: TokenSpec, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    issued = await rt.tokens.create(caller, domain, path_id(user_id, "user id"), spec)
    return render(issued.row, issued.token)


@router.get(
    "",
    summary="List a user's tokens (without the tokens themselves)",
    response_model=Page[TokenOut],
    response_model_exclude_none=True,
)
async def list_tokens(
    user_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep, listing: Listing
) -> Any:
    rows, more = await rt.tokens.search(caller, domain, path_id(user_id, "user id"), listing)
    return page_of([render(row) for row in rows], more, listing)


@router.get("/{token_id}", summary="Read a token's record", **_OUT)
async def read_token(
    user_id: str, token_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    return render(await rt.tokens.get(caller, domain, path_id(user_id, "user id"), token_id))


@router.delete("/{token_id}", summary="Revoke a token", **_OUT)
async def revoke_token(
    user_id: str, token_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    return render(await rt.tokens.revoke(caller, domain, path_id(user_id, "user id"), token_id))
