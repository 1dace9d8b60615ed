"""Shapes shared by the resource modules: references, audit fields, pages, errors."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from callboard.store.models import User

T = TypeVar("T")


class RefOut(BaseModel):
    """`{"id": "130", "name": "Administrator"}`; `{}` when there is none."""

    id: str | None = None
    name: str | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: bool


class ErrorOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "app.user.not_found",
                "status": "Not Found",
                "detail": "user 7 not found",
                "code": 404,
            }
        }
    )

    id: str
    status: str
    detail: str
    code: int


ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut, "description": description}
    for code, description in (
        (400, "Malformed or invalid request"),
        (401, "No valid access token"),
        (403, "Not permitted, or no valid license"),
        (404, "No such object in your domain"),
        (409, "Conflicts with an existing object"),
        (413, "Request body too large"),
        (429, "Too many failed authentications"),
    )
}


def ref(user: User | None) -> dict[str, str]:
    return {"id": str(user.id), "name": user.name} if user is not None else {}


def ms(value: int | None) -> str | None:
    return None if value is None else str(value)
