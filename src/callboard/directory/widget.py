"""The web phone widget's configuration for one internal number (New-Tel's
`webrtc/get-widget-config`, seed 003): who the phone is, and a short-lived token.

The page that embeds the widget asks for it from its own server, with an
administrator's (or an integration) token that never leaves that server; the browser
gets only a token of the user's that expires (`ttl`, one hour by default) and can be
revoked like any other. Each issue also deletes the user's widget tokens that have
expired, so that the table does not grow with every page view.

An open connection outlives its token's expiry; a reconnection after it (a network loss
once the token has expired) is refused, and the page must ask for a new configuration.
The web phone's SIP credentials end with the token too (`callboard.directory.ephemeral`):
the browser never holds the device's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from callboard.clock import now_ms
from callboard.directory.licenses import is_valid
from callboard.directory.permissions import ADMIN_ROLE_ID, Permission
from callboard.directory.principal import Principal
from callboard.directory.tokens import issue
from callboard.errors import Conflict, LicenseRequired, NotFound
from callboard.store.database import Database
from callboard.store.models import AccessToken, Domain, User

#: The kind of the tokens issued here (not listed with the integration tokens).
WIDGET = "widget"
DEFAULT_TTL = 3600
MIN_TTL = 60
MAX_TTL = 12 * 3600


class WidgetRequest(BaseModel):
    """`{"internalNumber": 100}` as in seed 003 (a string or a number), or `extension`."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    internal_number: str = Field(
        alias="internalNumber",
        description="The user's extension (New-Tel's name for it; `extension` works too)",
        examples=["1001"],
    )
    ttl: int = Field(
        default=DEFAULT_TTL,
        ge=MIN_TTL,
        le=MAX_TTL,
        description="Seconds the browser's token lasts (60 to 43200)",
    )

    @field_validator("internal_number", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and value.strip().isdigit():
            return value.strip()
        raise ValueError("an internal number is the user's extension, digits only")

    @model_validator(mode="before")
    @classmethod
    def _extension(cls, value: object) -> object:
        if isinstance(value, dict) and "internalNumber" not in value and "extension" in value:
            return {**value, "internalNumber": value["extension"]}
        return value


@dataclass(frozen=True, slots=True)
class WidgetGrant:
    user_id: int
    name: str
    extension: str
    domain: str
    token: str
    expires_at: int


class WidgetService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def grant(
        self, principal: Principal, domain_id: int, request: WidgetRequest
    ) -> WidgetGrant:
        """A new short-lived token for the user whose extension is `internal_number`."""
        own = domain_id == principal.domain_id and principal.extension == request.internal_number
        if not own:
            principal.require(Permission.TOKENS_WRITE)
        async with self.db.transaction() as session:
            user = await session.scalar(
                select(User)
                .where(User.domain_id == domain_id, User.extension == request.internal_number)
                .options(
                    selectinload(User.devices),
                    selectinload(User.licenses),
                    selectinload(User.roles),
                )
            )
            if user is None:
                raise NotFound(
                    f"no user has the internal number {request.internal_number}",
                    id="app.user.not_found",
                )
            now = now_ms()
            if not user.enabled:
                raise Conflict(f"user {user.id} is disabled", id="app.widget.user_disabled")
            admin = user.is_root or any(role.id == ADMIN_ROLE_ID for role in user.roles)
            if not admin and not any(is_valid(lic, now) for lic in user.licenses):
                raise LicenseRequired(f"user {user.id} has no valid product license")
            if not user.devices:
                raise Conflict(
                    f"user {user.id} has no SIP device for the web phone to register as",
                    id="app.widget.no_device",
                )
            domain = await session.get(Domain, domain_id)
            assert domain is not None
            await session.execute(
                delete(AccessToken).where(
                    AccessToken.user_id == user.id,
                    AccessToken.kind == WIDGET,
                    AccessToken.expires_at < now,
                )
            )
            expires_at = now + request.ttl * 1000
            issued = issue(
                session,
                user,
                WIDGET,
                f"widget for {request.internal_number}",
                by=principal.user_id,
                expires_at=expires_at,
            )
            await session.flush()
            return WidgetGrant(
                user.id, user.name, request.internal_number, domain.name, issued.token, expires_at
            )
