"""What route handlers receive: the runtime, the caller, paging, and parsed ids."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from callboard.directory.common import ListQuery, acting_domain, parse_id
from callboard.directory.principal import Principal
from callboard.errors import InvalidInput, Unauthenticated
from callboard.runtime import Runtime

_header = APIKeyHeader(name="X-Webitel-Access", auto_error=False)
_bearer = HTTPBearer(auto_error=False)
_query = APIKeyQuery(name="access_token", auto_error=False)


def runtime(request: Request) -> Runtime:
    value: Runtime = request.app.state.runtime
    return value


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def source_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authenticated(
    request: Request,
    rt: RuntimeDep,
    header: Annotated[str | None, Depends(_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    query: Annotated[str | None, Depends(_query)],
) -> Principal:
    """A token as `X-Webitel-Access`, `Authorization: Bearer`, or `?access_token=`."""
    token = header or (bearer.credentials if bearer else None) or query
    if not token:
        raise Unauthenticated("an access token is required", id="app.session.required")
    return await rt.auth.authenticate(token, source_of(request))


Caller = Annotated[Principal, Depends(authenticated)]


def domain_scope(
    principal: Caller,
    domain_id: Annotated[
        str | None, Query(description="Root administrator only: work in another domain")
    ] = None,
) -> int:
    requested = None if domain_id is None else path_id(domain_id, "domain_id")
    return acting_domain(principal, requested)


DomainId = Annotated[int, Depends(domain_scope)]


def list_query(
    page: Annotated[int, Query(ge=1, description="Page number, from 1")] = 1,
    size: Annotated[int, Query(ge=1, le=1000, description="Items per page")] = 40,
    q: Annotated[str | None, Query(description="Search text; `*` is a wildcard")] = None,
    sort: Annotated[
        list[str] | None, Query(description="Field to sort by, `-name` descending")
    ] = None,
    fields: Annotated[list[str] | None, Query(description="Fields to return")] = None,
) -> ListQuery:
    return ListQuery(
        page=page,
        size=size,
        q=q,
        sort=tuple(_split(sort)),
        fields=tuple(_split(fields)),
    )


Listing = Annotated[ListQuery, Depends(list_query)]


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def path_id(value: str, what: str = "id") -> int:
    try:
        return parse_id(value)
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not a valid id", id="api.request.bad_id") from None


def select_fields(item: dict[str, Any], fields: tuple[str, ...] | Any) -> dict[str, Any]:
    """Keep only the requested `fields` (and always `id`)."""
    if not fields:
        return item
    wanted = set(fields) | {"id"}
    return {key: value for key, value in item.items() if key in wanted}


def page_of(items: list[dict[str, Any]], more: bool, query: ListQuery) -> dict[str, Any]:
    return {"items": [select_fields(item, query.fields) for item in items], "next": more}
