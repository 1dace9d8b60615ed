"""The bodies of `/api/calls`: what the routes accept and answer (Webitel's shapes)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from callboard.api.schemas import RefOut
from callboard.calls.history_search import Between

#: Route options of every call listing: no nulls, `from` (not `from_`) on the wire.
OUT: dict[str, Any] = {"response_model_exclude_none": True, "response_model_by_alias": True}


# --------------------------------------------------------------------------- answers


class EndpointOut(BaseModel):
    """A party: `type` is `user` for a user of the domain, `dest` for anyone else."""

    type: str | None = None
    number: str | None = None
    id: str | None = None
    name: str | None = None


class HoldOut(BaseModel):
    start: str | None = None
    stop: str | None = None
    sec: int | None = None


class ActiveCallOut(BaseModel):
    id: str
    app_id: str | None = None
    type: str | None = None
    state: str | None = None
    timestamp: str | None = None
    parent_id: str | None = None
    user: RefOut | None = None
    extension: str | None = None
    direction: str | None = None
    destination: str | None = None
    from_: EndpointOut | None = Field(default=None, alias="from")
    to: EndpointOut | None = None
    variables: dict[str, str] | None = None
    created_at: str | None = None
    answered_at: str | None = None
    bridged_at: str | None = None
    bridged_id: str | None = None
    duration: int | None = None
    wait_sec: int | None = None
    bill_sec: int | None = None
    hold_sec: int | None = None
    hold: list[HoldOut] | None = None
    blind_transfer: str | None = None


class HistoryCallOut(BaseModel):
    id: str
    type: str | None = None
    parent_id: str | None = None
    user: RefOut | None = None
    extension: str | None = None
    gateway: RefOut | None = None
    direction: str | None = None
    destination: str | None = None
    from_: EndpointOut | None = Field(default=None, alias="from")
    to: EndpointOut | None = None
    from_number: str | None = None
    to_number: str | None = None
    variables: dict[str, str] | None = None
    created_at: str | None = None
    answered_at: str | None = None
    bridged_at: str | None = None
    hangup_at: str | None = None
    hangup_by: str | None = None
    cause: str | None = None
    sip_code: int | None = None
    duration: int | None = None
    wait_sec: int | None = None
    bill_sec: int | None = None
    talk_sec: int | None = None
    hold_sec: int | None = None
    transfer_to: str | None = None
    has_children: bool | None = None


class StateOut(BaseModel):
    state: str


class CreatedCallOut(BaseModel):
    id: str


# --------------------------------------------------------------------------- values


def _int64(value: Any) -> Any:
    """int64 values travel as strings (`"1700000000000"`) or numbers; both are accepted."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


Int64 = Annotated[int, BeforeValidator(_int64)]


def _list(value: Any) -> Any:
    """A list, or one value, or a comma-separated string of them."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [
        part.strip()
        for item in items
        for part in (item.split(",") if isinstance(item, str) else [str(item)])
        if part.strip()
    ]


StrList = Annotated[list[str] | None, BeforeValidator(_list)]


# --------------------------------------------------------------------------- call control


class HangupIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cause: str | None = Field(
        default=None, max_length=64, description="A hangup cause, e.g. `NORMAL_CLEARING`"
    )
    app_id: str | None = None


class CommandIn(BaseModel):
    """Webitel's requests also carry `app_id` (the node): there is one node here."""

    model_config = ConfigDict(extra="ignore")

    app_id: str | None = None


class DtmfIn(CommandIn):
    digit: str | None = Field(default=None, description="One digit: 0-9, *, #, A-D")
    digits: str | None = Field(default=None, max_length=64, description="Several, in order")


class TransferIn(CommandIn):
    destination: str = Field(min_length=1, max_length=128, description="An extension or number")


# --------------------------------------------------------------------------- history search


class BetweenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Int64 | None = Field(default=None, alias="from")
    to: Int64 | None = None

    def between(self) -> Between:
        return Between(self.from_, self.to)


class HistorySearchIn(BaseModel):
    """`POST /api/calls/history`: the filters of the GET, as a JSON body."""

    model_config = ConfigDict(extra="ignore")

    page: int = Field(default=1, ge=1)
    size: int = Field(default=40, ge=1, le=1000)
    q: str | None = Field(default=None, max_length=200)
    sort: StrList = None
    fields: StrList = None
    created_at: BetweenIn | None = None
    id: StrList = None
    user_id: StrList = None
    direction: str | None = None
    directions: StrList = None
    number: str | None = Field(default=None, max_length=128)
    duration: BetweenIn | None = None
    answered_at: BetweenIn | None = None
    cause: StrList = None
    missed: bool | None = None
    answered: bool | None = None
    parent_id: str | None = None
    skip_parent: bool | None = None
    gateway_id: StrList = None
    has_transfer: bool | None = None


# --------------------------------------------------------------------------- click-to-call


class CallPartyIn(BaseModel):
    """`from` or `to` of CreateCall: a user of the domain by `id`, or by `extension`."""

    model_config = ConfigDict(extra="ignore")

    id: Int64 | None = None
    extension: str | None = Field(default=None, max_length=64)
    type: str | None = None
    app_id: str | None = None


class CreateCallIn(BaseModel):
    """Webitel's CreateCall. `params`: `timeout` (s, the user's phones),
    `destination_timeout` (s, the destination; at most 30), `display` (the caller id
    number the destination sees), `display_name`, `variables` (strings, into every leg's
    events and history); the SDK's media hints are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    from_: CallPartyIn | None = Field(default=None, alias="from")
    to: CallPartyIn | None = None
    destination: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] | None = None
