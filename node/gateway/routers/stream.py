"""``GET /api/v1/ledgers/{ledger}/stream``: Server-Sent Events of blocks, tx results and events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from node.gateway.deps import RuntimeDep
from node.gateway.errors import InvalidParameter
from node.gateway.sse import KINDS, parse_event_id, stream_messages

router = APIRouter(prefix="/api/v1/ledgers/{ledger}", tags=["stream"])


@router.get(
    "/stream",
    summary="Push stream (SSE) of committed blocks, tx results and events; resumable",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "id: height:index; event: block|tx|event"}},
)
async def stream(
    request: Request, runtime: RuntimeDep,
    from_height: Annotated[int | None, Query(ge=0, le=2**62, description="Replay from this height.")] = None,
    kinds: Annotated[str, Query(max_length=64, description="Comma list of block,tx,event.")] = "block,tx,event",
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    wanted = frozenset(part.strip() for part in kinds.split(",") if part.strip())
    if not wanted or not wanted <= set(KINDS):
        raise InvalidParameter("kinds must be a comma list of block, tx, event")
    if last_event_id:
        start, skip = parse_event_id(last_event_id)
    elif from_height is not None:
        start, skip = from_height, -1
    else:
        start, skip = runtime.ledger.height + 1, -1
    runtime.ledger.check_not_archived(start)  # refused now, with a status, not in the middle of the stream
    body = stream_messages(runtime, start, skip, wanted, request.app.state.shutting_down)
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
