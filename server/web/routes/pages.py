"""The minimal live board and resident pages: plain HTML and JS served by the app."""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/")
async def index(request: Request) -> RedirectResponse:
    """Send a visitor to the API docs, or to the board where they are not served."""
    return RedirectResponse(request.app.docs_url or "/board")


@router.get("/board")
async def board() -> FileResponse:
    """The staff's live board (signed in: the session cookie); `?kiosk=1` for a wall screen."""
    return FileResponse(STATIC / "board.html", headers={"Cache-Control": "no-cache"})


@router.get("/app")
async def resident() -> FileResponse:
    """The resident's page with the help button (signed in: the session cookie)."""
    return FileResponse(STATIC / "app.html")
