"""`/api/domains` (root administrator) and `/api/domain` (the caller's own)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from callboard.api.deps import Caller, Listing, RuntimeDep, page_of, path_id
from callboard.api.schemas import ERRORS, Page, ms
from callboard.directory.domains import DomainSpec
from callboard.store.models import Domain

router = APIRouter(tags=["domains"], responses=ERRORS)


class DomainOut(BaseModel):
    id: str
    dc: str
    name: str
    description: str
    enabled: bool
    created_at: str | None
    updated_at: str | None


def render(domain: Domain) -> dict[str, Any]:
    return {
        "id": str(domain.id),
        "dc": str(domain.id),
        "name": domain.name,
        "description": domain.description,
        "enabled": domain.enabled,
        "created_at": ms(domain.created_at),
        "updated_at": ms(domain.updated_at),
    }


@router.post("/domains", summary="Create a domain (root only)", response_model=DomainOut)
async def create_domain(spec: DomainSpec, caller: Caller, rt: RuntimeDep) -> Any:
    return render(await rt.domains.create(caller, spec))


@router.get("/domains", summary="List domains", response_model=Page[DomainOut])
async def search_domains(caller: Caller, rt: RuntimeDep, listing: Listing) -> Any:
    domains, more = await rt.domains.search(caller, listing)
    return page_of([render(domain) for domain in domains], more, listing)


@router.get("/domain", summary="Read your own domain", response_model=DomainOut)
async def read_own_domain(caller: Caller, rt: RuntimeDep) -> Any:
    return render(await rt.domains.get(caller, caller.domain_id))


@router.get("/domains/{dc}", summary="Read a domain", response_model=DomainOut)
async def read_domain(dc: str, caller: Caller, rt: RuntimeDep) -> Any:
    return render(await rt.domains.get(caller, path_id(dc, "domain id")))


@router.put("/domains/{dc}", summary="Change a domain (root only)", response_model=DomainOut)
@router.patch("/domains/{dc}", summary="Change a domain (root only)", response_model=DomainOut)
async def update_domain(dc: str, spec: DomainSpec, caller: Caller, rt: RuntimeDep) -> Any:
    return render(await rt.domains.update(caller, path_id(dc, "domain id"), spec))


@router.delete(
    "/domains/{dc}",
    summary="Delete a domain and all it holds (root only)",
    response_model=DomainOut,
)
async def delete_domain(dc: str, caller: Caller, rt: RuntimeDep) -> Any:
    return render(await rt.domains.delete(caller, path_id(dc, "domain id")))
