"""`/api/devices`: SIP accounts (seed 000's `POST /api/devices`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
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
from callboard.directory.devices import DeviceSpec
from callboard.store.models import Device

router = APIRouter(prefix="/devices", tags=["devices"], responses=ERRORS)


class DeviceOut(BaseModel):
    id: str | None = None
    name: str | None = None
    account: str | None = None
    password: str | None = None
    user: RefOut | None = None
    brand: str | None = None
    model: str | None = None
    mac: str | None = None
    ip: str | None = None
    hotdesk: bool | None = None
    logged_in: str | None = None
    created_at: str | None = None
    created_by: RefOut | None = None
    updated_at: str | None = None
    updated_by: RefOut | None = None


def render(device: Device, *, password: str | None = None) -> dict[str, Any]:
    """The device as seed 000 shows it. The password is echoed only to the request that set it."""
    body: dict[str, Any] = {
        "id": str(device.id),
        "name": device.name,
        "account": device.account,
        "user": ref(device.user),
        "brand": device.brand,
        "model": device.model,
        "mac": device.mac,
        "ip": device.ip,
        "hotdesk": device.hotdesk,
        "logged_in": ms(device.logged_in),
        "created_at": ms(device.created_at),
        "created_by": ref(device.created_by),
        "updated_at": ms(device.updated_at),
        "updated_by": ref(device.updated_by),
    }
    if password is not None:
        body["password"] = password
    return body


_OUT: dict[str, Any] = {"response_model": DeviceOut, "response_model_exclude_none": True}


@router.post("", summary="Create a device", **_OUT)
async def create_device(spec: DeviceSpec, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    device = await rt.devices.create(caller, domain, spec)
    return render(device, password=spec.password)


@router.get(
    "", summary="Search devices", response_model=Page[DeviceOut], response_model_exclude_none=True
)
async def search_devices(
    caller: Caller,
    domain: DomainId,
    rt: RuntimeDep,
    listing: Listing,
    user_id: Annotated[str | None, Query(description="Only this user's devices")] = None,
) -> Any:
    owner = None if user_id is None else path_id(user_id, "user_id")
    devices, more = await rt.devices.search(caller, domain, listing, user_id=owner)
    return page_of([render(device) for device in devices], more, listing)


@router.get("/{device_id}", summary="Read a device", **_OUT)
async def read_device(
    device_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep, listing: Listing
) -> Any:
    device = await rt.devices.get(caller, domain, path_id(device_id))
    return select_fields(render(device), listing.fields)


@router.put("/{device_id}", summary="Replace a device", **_OUT)
async def replace_device(
    device_id: str, spec: DeviceSpec, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    device = await rt.devices.update(caller, domain, path_id(device_id), spec, partial=False)
    return render(device, password=spec.password)


@router.patch("/{device_id}", summary="Change some fields of a device", **_OUT)
async def patch_device(
    device_id: str, spec: DeviceSpec, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    device = await rt.devices.update(caller, domain, path_id(device_id), spec, partial=True)
    return render(device, password=spec.password)


@router.delete("/{device_id}", summary="Delete a device", **_OUT)
async def delete_device(device_id: str, caller: Caller, domain: DomainId, rt: RuntimeDep) -> Any:
    return render(await rt.devices.delete(caller, domain, path_id(device_id)))
