"""What every directory service shares: references by id, paging, and the acting domain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict
from sqlalchemy import Select, String, cast, func, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from callboard.directory.principal import Principal
from callboard.errors import Conflict, InvalidInput, PermissionDenied

T = TypeVar("T")

MAX_PAGE_SIZE = 1000


def parse_id(value: Any) -> int:
    """Ids travel as strings (`"7287"`) but clients also send numbers; both are accepted."""
    if isinstance(value, bool):
        raise ValueError("an id is a number or a string of digits")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError("an id is a number or a string of digits")
    if not 0 < number < 2**63:
        raise ValueError("an id is a positive 64-bit number")
    return number


Id = Annotated[int, BeforeValidator(parse_id)]


class Ref(BaseModel):
    """A reference to another object: `{"id": "7287"}`; other keys (name...) are ignored."""

    model_config = ConfigDict(extra="ignore")
    id: Id


class StrRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str


@dataclass(frozen=True)
class ListQuery:
    page: int = 1
    size: int = 40
    q: str | None = None
    sort: Sequence[str] = ()
    fields: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.page < 1:
            raise InvalidInput("page starts at 1")
        if not 1 <= self.size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"size is between 1 and {MAX_PAGE_SIZE}")


async def fetch_page(
    session: AsyncSession,
    statement: Select[T],
    query: ListQuery,
    *,
    search: Sequence[InstrumentedAttribute[Any]],
    sortable: dict[str, InstrumentedAttribute[Any]],
    default_sort: InstrumentedAttribute[Any],
) -> tuple[list[T], bool]:
    """One page of `statement` and whether another page follows (`{items, next}`)."""
    if query.q:
        pattern = _like_pattern(query.q)
        statement = statement.where(
            or_(*(func.lower(cast(column, String)).like(pattern, escape="\\") for column in search))
        )
    order = []
    for key in query.sort:
        name = key.lstrip("+-")
        column = sortable.get(name)
        if column is None:
            raise InvalidInput(f"cannot sort by {name!r}; one of: {', '.join(sorted(sortable))}")
        order.append(column.desc() if key.startswith("-") else column.asc())
    order.append(default_sort.asc())
    statement = statement.order_by(*order).offset((query.page - 1) * query.size)
    rows = list((await session.scalars(statement.limit(query.size + 1))).unique())
    return rows[: query.size], len(rows) > query.size


def _like_pattern(q: str) -> str:
    """`q` matches anywhere, case-insensitively; `*` is a wildcard as in the Webitel API."""
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if "*" in escaped:
        return escaped.replace("*", "%")
    return f"%{escaped}%"


def acting_domain(principal: Principal, requested: int | None) -> int:
    """The domain a request works in: the caller's own, or any for the root administrator."""
    if requested is None or requested == principal.domain_id:
        return principal.domain_id
    if not principal.is_root:
        raise PermissionDenied("you can only work in your own domain")
    return requested


async def flush(session: AsyncSession) -> None:
    """Write pending changes; a unique constraint hit by a concurrent request is a 409."""
    try:
        await session.flush()
    except IntegrityError as error:
        raise Conflict("the change conflicts with an existing object") from error
