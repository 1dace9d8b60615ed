"""`POST /api/webrtc/get-widget-config`: the embeddable web phone's configuration for
one internal number, asked for server to server (New-Tel's method of the same name,
seed 003).

The answer keeps New-Tel's envelope, `{"status": "success", "data": {"widgetConfig":
{...}}}`, so that the seed's integration code works by changing only the URL and its
`Authorization` header (a Callboard token instead of New-Tel's request signature);
errors keep Callboard's one shape. The page renders `widgetConfig` as
`window.callboardWidgetConfig` and loads `/sdk/widget.js`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from callboard.api.deps import Caller, DomainId, RuntimeDep
from callboard.api.schemas import ERRORS
from callboard.directory.widget import WidgetRequest, WidgetService

router = APIRouter(prefix="/webrtc", tags=["widget"], responses=ERRORS)


class WidgetUserOut(BaseModel):
    id: str
    name: str
    extension: str


class WidgetConfigOut(BaseModel):
    server: str = Field(description="The Callboard server the widget connects to")
    token: str = Field(description="The user's short-lived token (shown once)")
    expiresAt: int = Field(description="When the token expires, in ms since the epoch")  # noqa: N815
    domain: str
    user: WidgetUserOut


class WidgetDataOut(BaseModel):
    widgetConfig: WidgetConfigOut  # noqa: N815


class WidgetAnswerOut(BaseModel):
    status: Literal["success"]
    data: WidgetDataOut


@router.post(
    "/get-widget-config",
    summary="The web phone widget's configuration for an internal number",
    description=(
        "Server to server: call it from the page's own server with an administrator's "
        "(or an integration) token, never from the browser. It issues a new token for "
        "the user whose extension is `internalNumber`, valid for `ttl` seconds (default "
        "3600), and answers the widget's configuration in New-Tel's envelope. Render "
        "`data.widgetConfig` into the page as `window.callboardWidgetConfig` and load "
        "`/sdk/widget.css` and `/sdk/widget.js`. A user may ask for their own extension; "
        "anyone else's needs `tokens:write`."
    ),
    response_model=WidgetAnswerOut,
)
async def get_widget_config(
    body: WidgetRequest, request: Request, caller: Caller, domain: DomainId, rt: RuntimeDep
) -> Any:
    grant = await WidgetService(rt.db).grant(caller, domain, body)
    return {
        "status": "success",
        "data": {
            "widgetConfig": {
                "server": str(request.base_url).rstrip("/"),
                "token": grant.token,
                "expiresAt": grant.expires_at,
                "domain": grant.domain,
                "user": {
                    "id": str(grant.user_id),
                    "name": grant.name,
                    "extension": grant.extension,
                },
            }
        },
    }
