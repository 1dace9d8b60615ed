"""Every request body is JSON, whatever its Content-Type says.

`curl -d '{...}'` labels its body `application/x-www-form-urlencoded`, and so do many
HTTP clients by default; Webitel's gateway, whose paths and shapes this API keeps, reads
any body as JSON. So does this API: a form-labelled body is relabelled as JSON before it
reaches the routes (which take no forms), and a body that is not JSON gets the usual
400 from there.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_FORM = b"application/x-www-form-urlencoded"


class JsonBodiesMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers", [])
            if any(name == b"content-type" and value.startswith(_FORM) for name, value in headers):
                scope = dict(scope)
                scope["headers"] = [
                    (name, b"application/json" if name == b"content-type" else value)
                    for name, value in headers
                ]
        await self.app(scope, receive, send)
