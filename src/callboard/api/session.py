"""`/api/login`, `/api/logout` and `/api/userinfo`: sessions for people, not scripts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from callboard.api.deps import Caller, RuntimeDep, source_of
from callboard.api.schemas import ERRORS
from callboard.directory.principal import Principal

router = APIRouter(tags=["session"], responses=ERRORS)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: str = Field(min_length=1, max_length=200, description="`name` or `name@domain`")
    password: str = Field(min_length=1, max_length=256)
    domain: str | None = Field(default=None, max_length=253)


class LoginOut(BaseModel):
    access_token: str
    token_type: str
    expires_at: str
    user_id: str
    domain: str


class UserInfoOut(BaseModel):
    dc: str
    domain: str
    user_id: str
    name: str
    username: str
    preferred_username: str
    extension: str | None
    expires_at: str | None
    roles: list[dict[str, str]]
    permissions: list[str]
    licensed: bool
    scope: list[str]


@router.post("/login", summary="Log in with a username and password", response_model=LoginOut)
async def login(body: LoginRequest, request: Request, rt: RuntimeDep) -> Any:
    session = await rt.auth.login(body.username, body.password, body.domain, source_of(request))
    return {
        "access_token": session.token,
        "token_type": "Bearer",
        "expires_at": str(session.expires_at),
        "user_id": str(session.principal.user_id),
        "domain": session.principal.domain_name,
    }


@router.post("/logout", summary="End the current session", status_code=204)
async def logout(caller: Caller, rt: RuntimeDep) -> None:
    await rt.tokens.revoke_current(caller)


def _userinfo(caller: Principal) -> dict[str, Any]:
    return {
        "dc": str(caller.domain_id),
        "domain": caller.domain_name,
        "user_id": str(caller.user_id),
        "name": caller.name,
        "username": caller.username,
        "preferred_username": caller.username,
        "extension": caller.extension,
        "expires_at": None if caller.expires_at is None else str(caller.expires_at),
        "roles": [{"id": str(role_id)} for role_id in caller.role_ids],
        "permissions": sorted(caller.permissions),
        "licensed": caller.licensed,
        "scope": ["root"] if caller.is_root else [],
    }


@router.get("/userinfo", summary="Who the token belongs to", response_model=UserInfoOut)
async def userinfo(caller: Caller) -> Any:
    return _userinfo(caller)


@router.post("/userinfo", summary="Who the token belongs to", response_model=UserInfoOut)
async def userinfo_post(caller: Caller) -> Any:
    return _userinfo(caller)
