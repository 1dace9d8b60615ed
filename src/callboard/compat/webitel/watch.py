"""Watching another user's calls over the socket: Callboard's `subscribe_user_calls`
and `un_subscribe_user_calls` (what `Cti.Connector.subscribe('user:N')` sends).

While a socket of the watcher is subscribed, every leg event of user N's calls is also
put on the watcher's own numbered stream, as a `user_call` event (the `call` event's
payload, whose `user_id` names N): it is replayed by `events_since` like the rest of
the stream, and a `call` event stays a call of the user's own. The subscription ends
with the socket, or with `un_subscribe_user_calls`.

One's own calls need no permission (they are on one's stream anyway); another user's
need `calls:read` (supervisors and administrators); a user of another domain, or no
user, is "not found".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from callboard.compat.webitel.calls import call_item
from callboard.directory.common import parse_id
from callboard.directory.permissions import Permission
from callboard.directory.principal import Principal
from callboard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from callboard.compat.webitel.socket import WebitelSession


def _key(user_id: int) -> tuple[str, int]:
    return ("user_calls", user_id)


async def _watched(session: WebitelSession, data: dict[str, Any]) -> tuple[Principal, int]:
    principal = session.principal
    assert principal is not None
    value = data.get("user_id")
    try:
        user_id = parse_id(value)
    except ValueError:
        raise InvalidInput(f"user_id {value!r} is not a user id", id="app.user.bad_id") from None
    if user_id != principal.user_id:
        principal.require(Permission.CALLS_READ)
    user = await session.runtime.directory.user(user_id)
    if user is None or user.domain_id != principal.domain_id:
        raise NotFound(f"user {user_id} not found", id="app.user.not_found")
    return principal, user_id


async def subscribe_user_calls(session: WebitelSession, data: dict[str, Any]) -> dict[str, Any]:
    """`{user_id}` → `{user_id, items}`: the user's live calls now (as `subscribe_call`
    items), then their changes as `user_call` events. Asking twice is asking once."""
    principal, user_id = await _watched(session, data)
    key = _key(user_id)
    if user_id != principal.user_id and key not in session.cleanups:
        session.cleanups[key] = session.runtime.hub.watch_user_calls(principal.user_id, user_id)
    live = session.runtime.live.of_user(user_id)
    return {
        "user_id": user_id,
        "items": [call_item(leg, session.runtime.node_id) for leg in live],
    }


async def un_subscribe_user_calls(session: WebitelSession, data: dict[str, Any]) -> None:
    _principal, user_id = await _watched(session, data)
    unwatch = session.cleanups.pop(_key(user_id), None)
    if unwatch is not None:
        unwatch()
