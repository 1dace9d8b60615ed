"""`/api/calls`: active calls and their control, the call history, and click-to-call
(Webitel's `engine.CallService` paths and shapes).

One module per part of the resource family, each a thin HTTP layer that parses the
request, calls the service and serialises the answer:

- `active`: the live legs (`/calls/active`) and their control (hangup, hold, DTMF,
  blind transfer) through `CallControl`, as the WebSocket's commands go;
- `history`: the search of finished legs (`/calls/history`, GET and POST);
- `originate`: click-to-call (`POST /calls`);
- `schemas`: the request and response bodies; `render`: legs and history records in
  Webitel's shapes; `access`: who sees and controls which calls.

A user sees and controls their own legs; a supervisor or administrator (`calls:read`
to see, `calls:control` to act) those of the whole domain. Another domain's leg, or one
that has ended, is a 404.
"""

from __future__ import annotations

from fastapi import APIRouter

from callboard.api.calls.active import router as active
from callboard.api.calls.history import router as history
from callboard.api.calls.originate import router as originate
from callboard.api.schemas import ERRORS

router = APIRouter(tags=["calls"], responses=ERRORS)
router.include_router(active, prefix="/calls")
router.include_router(history, prefix="/calls")
router.include_router(originate, prefix="/calls")

__all__ = ["router"]
