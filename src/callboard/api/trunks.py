"""`/api/trunks`: provider gateways, with their inbound numbers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from callboard.api.deps import Caller, DomainId, Listing, RuntimeDep, page_of, path_id
from callboard.api.schemas import ERRORS, Page, ms
from callboard.directory.trunks import TrunkSpec
from callboard.store.models import Trunk

router = APIRouter(prefix="/trunks", tags=["trunks"], responses=ERRORS)


class NumberOut(BaseModel):
    number: str
    user_id: str | None


class TrunkOut(BaseModel):
    id: str
    name: str
    host: str
    port: int | None
    transport: str
    username: str | None
    has_password: bool
    registration: bool
    register_expires: int
    caller_id: str | None
    outbound_pattern: str
    priority: int
    enabled: bool
    numbers: list[NumberOut]
    created_at: str | None
    updated_at: str | None


def render(trunk: Trunk) -> dict[str, Any]:
    return {
        "id": str(trunk.id),
        "name": trunk.name,
        "host": trunk.host,
        "port": trunk.port,
        "transport": trunk.transport,
        "username": trunk.username,
        "has_password": trunk.secret is not None,
        "registration": trunk.registration,
        "register_expires": trunk.register_expires,
        "caller_id": trunk.caller_id,
        "outbound_pattern": trunk.outbound_pattern,
        "priority": trunk.priority,
        "enabled": trunk.enabled,
        "numbers": [
            {"number": n.number, "user_id": None if n.user_id is None else str(n.user_id)}
            for n in trunk.numbers
        ],
        "created_at": ms(trunk.created_at),
        "updated_at": ms(trunk.updated_at),
    }


@router.post("", summary="Create a trunk", response_model=TrunkOut)
async def create_trunk(spec: TrunkSpec, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    return render(await rt.trunks.create(caller, domain, spec))


@router.get("", summary="List trunks", response_model=Page[TrunkOut])
async def search_trunks(caller: Caller, domain: DomainId, rt: RuntimeDep, listing: Listing) -> Any:
    trunks, more = await rt.trunks.search(caller, domain, listing)
    return page_of([render(trunk) for trunk in trunks], more, listing)


@router.get("/{trunk_id}", summary="Read a trunk", response_model=TrunkOut)
async def read_trunk(trunk_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    return render(await rt.trunks.get(caller, domain, path_id(trunk_id)))


@router.put("/{trunk_id}", summary="Replace a trunk", response_model=TrunkOut)
async def replace_trunk(
    trunk_id: str, spec: TrunkSpec, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    return render(await rt.trunks.update(caller, domain, path_id(trunk_id), spec, partial=False))


@router.patch("/{trunk_id}", summary="Change some fields of a trunk", response_model=TrunkOut)
async def patch_trunk(
    trunk_id: str, spec: TrunkSpec, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    return render(await rt.trunks.update(caller, domain, path_id(trunk_id), spec, partial=True))


@router.delete("/{trunk_id}", summary="Delete a trunk", response_model=TrunkOut)
async def delete_trunk(trunk_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    return render(await rt.trunks.delete(caller, domain, path_id(trunk_id)))
