"""`/api/users`: people, their roles, devices and licenses (seed 000's `POST /api/users`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from callboard.api.deps import (
    Caller,
    DomainId,
    Listing,
    RuntimeDep,
    page_of,
    path_id,
    select_fields,
)
from callboard.api.schemas import ERRORS, Page, RefOut, ms, ref
from callboard.directory.users import UserSpec
from callboard.store.models import User

router = APIRouter(prefix="/users", tags=["users"], responses=ERRORS)


class LicenseRefOut(BaseModel):
    id: str
    prod: str
    scope: list[str] | None = None
    issued_at: str
    expires_at: str


class UserOut(BaseModel):
    id: str | None = None
    name: str | None = None
    email: str | None = None
    username: str | None = None
    password: str | None = None
    extension: str | None = None
    roles: list[RefOut] | None = None
    device: RefOut | None = None
    devices: list[RefOut] | None = None
    license: list[LicenseRefOut] | None = None
    created_at: str | None = None
    created_by: RefOut | None = None
    updated_at: str | None = None
    updated_by: RefOut | None = None


class UserEnvelope(BaseModel):
    user: UserOut


def render(user: User) -> dict[str, Any]:
    """The user as seed 000 shows it; `password` is the Argon2id hash, never the password."""
    default = user.default_device
    return {
        "id": str(user.id),
        "name": user.name,
        "email": user.email,
        "username": user.username,
        "password": user.password_hash,
        "extension": user.extension,
        "roles": [{"id": str(role.id), "name": role.name} for role in user.roles],
        "device": {"id": str(default.id), "name": default.name} if default else None,
        "devices": [{"id": str(d.id), "name": d.name} for d in user.devices],
        "license": [
            {
                "id": license.id,
                "prod": license.product,
                "scope": license.scope,
                "issued_at": str(license.issued_at),
                "expires_at": str(license.expires_at),
            }
            for license in user.licenses
        ],
        "created_at": ms(user.created_at),
        "created_by": ref(user.created_by),
        "updated_at": ms(user.updated_at),
        "updated_by": ref(user.updated_by),
    }


def _answer(user: User, spec: UserSpec) -> Any:
    body = render(user)
    if spec.wrapped:
        # The webitel-sdk REST client sent `{"user": {...}}`; it reads the same envelope back.
        return JSONResponse({"user": UserOut(**body).model_dump(exclude_none=True)})
    return body


_OUT: dict[str, Any] = {
    "response_model": UserOut,
    "response_model_exclude_none": True,
    "responses": {200: {"description": "The user, or `{user}` when the request was `{user}`"}},
}


@router.post("", summary="Create a user", **_OUT)
async def create_user(spec: UserSpec, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    return _answer(await rt.users.create(caller, domain, spec), spec)


@router.get(
    "", summary="Search users", response_model=Page[UserOut], response_model_exclude_none=True
)
async def search_users(caller: Caller, domain: DomainId, rt: RuntimeDep, listing: Listing) -> Any:
    users, more = await rt.users.search(caller, domain, listing)
    return page_of([render(user) for user in users], more, listing)


@router.get(
    "/{user_id}", summary="Read a user", response_model=UserOut, response_model_exclude_none=True
)
async def read_user(
    user_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep, listing: Listing
) -> Any:
    user = await rt.users.get(caller, domain, path_id(user_id))
    return select_fields(render(user), listing.fields)


@router.put("/{user_id}", summary="Replace a user", **_OUT)
async def replace_user(
    user_id: str, spec: UserSpec, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    user = await rt.users.update(caller, domain, path_id(user_id), spec, partial=False)
    return _answer(user, spec)


@router.patch("/{user_id}", summary="Change some fields of a user", **_OUT)
async def patch_user(
    user_id: str, spec: UserSpec, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    user = await rt.users.update(caller, domain, path_id(user_id), spec, partial=True)
    return _answer(user, spec)


@router.delete(
    "/{user_id}", summary="Delete a user", response_model=UserOut, response_model_exclude_none=True
)
async def delete_user(user_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    return render(await rt.users.delete(caller, domain, path_id(user_id)))
