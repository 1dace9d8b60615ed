"""`/api/licenses`: a domain's product licenses and how many seats are in use."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from callboard.api.deps import Caller, DomainId, RuntimeDep
from callboard.api.schemas import ERRORS
from callboard.clock import now_ms
from callboard.directory.licenses import LicenseSpec, is_valid
from callboard.store.models import License

router = APIRouter(prefix="/licenses", tags=["licenses"], responses=ERRORS)


class LicenseOut(BaseModel):
    id: str
    prod: str
    limit: int
    used: int
    scope: list[str]
    domain_id: str
    issued_at: str
    expires_at: str
    valid: bool


class LicenseList(BaseModel):
    items: list[LicenseOut]
    next: bool


def render(license: License, used: int) -> dict[str, Any]:
    return {
        "id": license.id,
        "prod": license.product,
        "limit": license.seats,
        "used": used,
        "scope": license.scope,
        "domain_id": str(license.domain_id),
        "issued_at": str(license.issued_at),
        "expires_at": str(license.expires_at),
        "valid": is_valid(license, now_ms()),
    }


@router.get("", summary="List the domain's licenses", response_model=LicenseList)
async def list_licenses(caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    rows = await rt.licenses.search(caller, domain)
    return {"items": [render(license, used) for license, used in rows], "next": False}


@router.post("", summary="Issue a license to a domain (root only)", response_model=LicenseOut)
async def issue_license(spec: LicenseSpec, caller: Caller, rt: RuntimeDep) -> Any:
    return render(await rt.licenses.issue(caller, spec), 0)


@router.delete("/{license_id}", summary="End a license now (root only)", status_code=204)
async def revoke_license(license_id: str, caller: Caller, rt: RuntimeDep) -> None:
    await rt.licenses.revoke(caller, license_id)
