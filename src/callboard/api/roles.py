"""`/api/roles`: the system roles (ids 1 to 4) and a domain's own roles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from callboard.api.deps import Caller, DomainId, Listing, RuntimeDep, page_of, path_id
from callboard.api.schemas import ERRORS, Page
from callboard.directory.permissions import SYSTEM_ROLE_IDS, description_of, permissions_of
from callboard.directory.roles import RoleSpec
from callboard.store.models import Role

router = APIRouter(prefix="/roles", tags=["roles"], responses=ERRORS)


class RoleOut(BaseModel):
    id: str
    name: str
    description: str
    permissions: list[str]
    system: bool


def render(role: Role) -> dict[str, Any]:
    return {
        "id": str(role.id),
        "name": role.name,
        "description": description_of(role.id, role.description),
        "permissions": sorted(permissions_of(role.id, role.permissions)),
        "system": role.id in SYSTEM_ROLE_IDS,
    }


@router.get("", summary="List roles", response_model=Page[RoleOut])
async def search_roles(caller: Caller, domain: DomainId, rt: RuntimeDep, listing: Listing) -> Any:
    roles, more = await rt.roles.search(caller, domain, listing)
    return page_of([render(role) for role in roles], more, listing)


@router.get("/{role_id}", summary="Read a role", response_model=RoleOut)
async def read_role(role_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    return render(await rt.roles.get(caller, domain, path_id(role_id)))


@router.post("", summary="Create a role", response_model=RoleOut)
async def create_role(spec: RoleSpec, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    return render(await rt.roles.create(caller, domain, spec))


@router.put("/{role_id}", summary="Change a role", response_model=RoleOut)
@router.patch("/{role_id}", summary="Change a role", response_model=RoleOut)
async def update_role(
    role_id: str, spec: RoleSpec, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    return render(await rt.roles.update(caller, domain, path_id(role_id), spec))


@router.delete("/{role_id}", summary="Delete a role", response_model=RoleOut)
async def delete_role(role_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    return render(await rt.roles.delete(caller, domain, path_id(role_id)))
