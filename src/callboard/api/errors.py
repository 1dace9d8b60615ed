"""One JSON error shape everywhere: `{id, status, detail, code}`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from callboard.errors import AppError, InvalidInput, RateLimited

log = logging.getLogger(__name__)

_ROUTE_ERRORS = {404: "api.route.not_found", 405: "api.method.not_allowed"}


def error_response(error: AppError) -> JSONResponse:
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
    return JSONResponse(error.as_dict(), status_code=error.code, headers=headers)


def describe_validation(errors: Sequence[Any]) -> InvalidInput:
    """Turn pydantic's error list into one readable sentence."""
    problems = []
    for error in errors:
        if error.get("type") == "json_invalid":
            return InvalidInput(
                f"malformed JSON body: {error.get('ctx', {}).get('error', 'cannot parse')}",
                id="api.request.bad_json",
            )
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        if error.get("type") == "missing" and location == "":
            return InvalidInput("the request needs a JSON body", id="api.request.no_body")
        problems.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return InvalidInput("; ".join(problems), id="api.request.validation")


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, error: AppError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(describe_validation(error.errors()))

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, error: HTTPException) -> JSONResponse:
        body = AppError(str(error.detail), id=_ROUTE_ERRORS.get(error.status_code, "api.http"))
        body.code = error.status_code
        return error_response(body)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(AppError("internal server error"))
