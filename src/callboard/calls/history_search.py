"""Searching the call history: a typed query, and the SQL it becomes.

Every filter runs in the database. The created-at range is required (as the Webitel
engine requires it): together with the domain, or with the user a plain user is limited
to, it is what the indexes on `(domain_id, created_at)` and `(user_id, created_at)` serve,
so a search never scans more than its time window.

Field names and filter semantics follow Webitel's `SearchHistoryCall`: `skip_parent`
keeps only the legs that started a call (no parent), `missed` means an inbound leg that
was never bridged, `number` and `q` match anywhere in the numbers (`*` is a wildcard).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import aliased

from callboard.calls.events import Direction
from callboard.directory.common import MAX_PAGE_SIZE
from callboard.errors import InvalidInput
from callboard.store.database import Database
from callboard.store.models import CallRecord, Trunk

#: What `sort` accepts (`-name` descending); ties are broken by the leg id.
SORTABLE: dict[str, Any] = {
    "id": CallRecord.id,
    "created_at": CallRecord.created_at,
    "answered_at": CallRecord.answered_at,
    "bridged_at": CallRecord.bridged_at,
    "hangup_at": CallRecord.hangup_at,
    "duration": CallRecord.duration,
    "bill_sec": CallRecord.bill_sec,
    "hold_sec": CallRecord.hold_sec,
    "direction": CallRecord.direction,
    "destination": CallRecord.destination,
    "from_number": CallRecord.from_number,
    "to_number": CallRecord.to_number,
    "cause": CallRecord.cause,
    "sip_code": CallRecord.sip_code,
    "hangup_by": CallRecord.hangup_by,
}

DEFAULT_SORT = ("-created_at",)


@dataclass(frozen=True, slots=True)
class Between:
    """An inclusive range; either end may be open."""

    start: int | None = None
    end: int | None = None

    def check(self, name: str) -> None:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise InvalidInput(
                f"{name}.from ({self.start}) is after {name}.to ({self.end})",
                id="app.call_history.bad_range",
            )

    def apply(self, column: Any) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.start is not None:
            conditions.append(column >= self.start)
        if self.end is not None:
            conditions.append(column <= self.end)
        return conditions


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryQuery:
    """A search of the call history. Invalid combinations raise `InvalidInput` here, so
    the GET and POST forms of the API refuse the same things with the same words."""

    created_at: Between
    page: int = 1
    size: int = 40
    sort: Sequence[str] = ()
    q: str | None = None
    number: str | None = None
    ids: Sequence[str] = ()
    user_ids: Sequence[int] = ()
    directions: Sequence[str] = ()
    duration: Between = field(default_factory=Between)
    answered_at: Between = field(default_factory=Between)
    causes: Sequence[str] = ()
    missed: bool | None = None
    answered: bool | None = None
    parent_id: str | None = None
    skip_parent: bool | None = None
    gateway_ids: Sequence[int] = ()
    has_transfer: bool | None = None

    def __post_init__(self) -> None:
        if self.created_at.start is None or self.created_at.end is None:
            raise InvalidInput(
                "the created_at range is required: created_at.from and created_at.to, in "
                "milliseconds since the epoch",
                id="app.call_history.created_at_required",
            )
        for name in ("created_at", "duration", "answered_at"):
            between: Between = getattr(self, name)
            between.check(name)
        if self.page < 1:
            raise InvalidInput("page starts at 1")
        if not 1 <= self.size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"size is between 1 and {MAX_PAGE_SIZE}")
        known = {d.value for d in Direction}
        for direction in self.directions:
            if direction not in known:
                raise InvalidInput(
                    f"direction {direction!r} is not one of {', '.join(sorted(known))}",
                    id="app.call_history.bad_direction",
                )
        for key in self.sort:
            if key.lstrip("+-") not in SORTABLE:
                raise InvalidInput(
                    f"cannot sort by {key.lstrip('+-')!r}; one of: {', '.join(sorted(SORTABLE))}",
                    id="app.call_history.bad_sort",
                )


@dataclass(frozen=True, slots=True)
class HistoryRow:
    record: CallRecord
    gateway_name: str | None
    has_children: bool


class CallHistory:
    """The call history as the APIs read it."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(
        self, domain_id: int, query: HistoryQuery, *, only_user: int | None = None
    ) -> tuple[list[HistoryRow], bool]:
        """One page of `domain_id`'s legs matching `query` (only `only_user`'s when given),
        and whether another page follows."""
        statement = _statement(domain_id, query, only_user)
        statement = statement.offset((query.page - 1) * query.size).limit(query.size + 1)
        async with self.db.transaction() as session:
            rows = (await session.execute(statement)).all()
        found = [HistoryRow(row[0], row[1], bool(row[2])) for row in rows[: query.size]]
        return found, len(rows) > query.size


def _statement(
    domain_id: int, query: HistoryQuery, only_user: int | None
) -> Select[CallRecord, str, bool]:
    record = CallRecord
    child = aliased(CallRecord)
    # A leg's children share its call: the call_id index finds them.
    has_children = (
        select(child.id)
        .where(child.call_id == record.call_id, child.parent_id == record.id)
        .exists()
    )
    statement = (
        select(record, Trunk.name, has_children)
        .outerjoin(Trunk, (Trunk.id == record.trunk_id) & (Trunk.domain_id == record.domain_id))
        .where(record.domain_id == domain_id, *query.created_at.apply(record.created_at))
    )
    if only_user is not None:
        statement = statement.where(record.user_id == only_user)
    conditions: list[ColumnElement[bool]] = []
    if query.q:
        pattern = like_pattern(query.q)
        columns = (
            record.from_number,
            record.from_name,
            record.to_number,
            record.to_name,
            record.destination,
        )
        conditions.append(
            or_(record.id == query.q, *(func.lower(c).like(pattern, escape="\\") for c in columns))
        )
    if query.number:
        pattern = like_pattern(query.number)
        conditions.append(
            or_(
                *(
                    func.lower(c).like(pattern, escape="\\")
                    for c in (record.from_number, record.to_number, record.destination)
                )
            )
        )
    if query.ids:
        conditions.append(record.id.in_(query.ids))
    if query.user_ids:
        conditions.append(record.user_id.in_(query.user_ids))
    if query.directions:
        conditions.append(record.direction.in_(query.directions))
    conditions += query.duration.apply(record.duration)
    conditions += query.answered_at.apply(record.answered_at)
    if query.causes:
        conditions.append(record.cause.in_(query.causes))
    if query.missed is not None:
        missed = (record.direction == Direction.INBOUND.value) & record.bridged_at.is_(None)
        conditions.append(missed if query.missed else ~missed)
    if query.answered is not None:
        answered = record.answered_at.is_not(None)
        conditions.append(answered if query.answered else ~answered)
    if query.parent_id is not None:
        conditions.append(record.parent_id == query.parent_id)
    if query.skip_parent:
        conditions.append(record.parent_id.is_(None))
    if query.gateway_ids:
        conditions.append(record.trunk_id.in_(query.gateway_ids))
    if query.has_transfer is not None:
        transferred = record.transfer_to.is_not(None)
        conditions.append(transferred if query.has_transfer else ~transferred)
    order = []
    for key in query.sort or DEFAULT_SORT:
        column = SORTABLE[key.lstrip("+-")]
        # NULLs last both ways, on SQLite as on PostgreSQL (their defaults differ).
        order.append((column.desc() if key.startswith("-") else column.asc()).nulls_last())
    order.append(record.id.asc())
    return statement.where(*conditions).order_by(*order)


def like_pattern(text: str) -> str:
    """`text` anywhere, case-insensitively; `*` is a wildcard, `%` and `_` are literal."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if "*" in escaped:
        return escaped.replace("*", "%")
    return f"%{escaped}%"
