"""The errors every surface reports. Each one becomes `{id, status, detail, code}` on the wire."""

from __future__ import annotations

from http import HTTPStatus


class AppError(Exception):
    """An error with a stable machine id, an HTTP code, and a human detail."""

    code: int = HTTPStatus.INTERNAL_SERVER_ERROR
    default_id: str = "app.internal.error"

    def __init__(self, detail: str, *, id: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.id = id or self.default_id

    @property
    def status(self) -> str:
        return HTTPStatus(self.code).phrase

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "status": self.status, "detail": self.detail, "code": self.code}


class InvalidInput(AppError):
    code = HTTPStatus.BAD_REQUEST
    default_id = "api.request.invalid"


class Unauthenticated(AppError):
    code = HTTPStatus.UNAUTHORIZED
    default_id = "app.session.not_found"


class PermissionDenied(AppError):
    code = HTTPStatus.FORBIDDEN
    default_id = "api.context.permissions.app_error"


class LicenseRequired(AppError):
    code = HTTPStatus.FORBIDDEN
    default_id = "api.context.permissions.license"


class NotFound(AppError):
    code = HTTPStatus.NOT_FOUND
    default_id = "app.object.not_found"


class Conflict(AppError):
    code = HTTPStatus.CONFLICT
    default_id = "app.object.conflict"


class PayloadTooLarge(AppError):
    code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_id = "api.request.too_large"


class RateLimited(AppError):
    code = HTTPStatus.TOO_MANY_REQUESTS
    default_id = "app.auth.rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
