"""The demo CRM page: `GET /demo`, and `GET /demo/contacts`, the phone book it shows.

The page itself (web/apps/demo, copied next to the SDK by its build) is an app written
for the `Cti.Connector` facade, as seed 004's example app is for VoIPstudio's: it loads
`/sdk/cti-connector.js`, `/sdk/demo/demo.js` and `/sdk/demo/demo.css`, which the SDK's
files route serves.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from callboard.api.deps import Caller, RuntimeDep
from callboard.directory.phonebook import phone_book
from callboard.web.sdk import STATIC, SdkNotBuilt

router = APIRouter(include_in_schema=False)

PAGE = STATIC / "demo" / "index.html"


@router.get("/demo")
async def demo_page() -> HTMLResponse:
    if not PAGE.is_file():
        raise SdkNotBuilt(
            "the demo page is not built: run `bash scripts/setup.sh` (it needs Node.js 20 "
            "or newer and npm)"
        )
    return HTMLResponse(
        PAGE.read_bytes(),
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/demo/contacts")
async def contacts(caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    """The caller's domain's users with an extension (any user of the domain may ask)."""
    entries = await phone_book(rt.db, caller.domain_id)
    return {
        "items": [
            {"id": str(entry.user_id), "name": entry.name, "extension": entry.extension}
            for entry in entries
        ]
    }
