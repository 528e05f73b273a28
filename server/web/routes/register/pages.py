"""The register page (/register) and the pages' ES modules and style sheets (/static/js/…)."""

import re

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from server import words
from server.errors import NotFound
from server.web.routes.pages import STATIC

router = APIRouter(include_in_schema=False)


# -- the page and its modules ----------------------------------------------------------------

_MODULE = re.compile(r"^[a-z][a-z0-9_-]{0,40}\.(js|css)$")
_TYPES = {"js": "text/javascript", "css": "text/css"}


@router.get("/register")
async def register_page() -> FileResponse:
    """The register page (登记造册)."""
    return FileResponse(STATIC / "register.html", headers={"Cache-Control": "no-cache"})


@router.get("/static/js/{name}", response_model=None)
async def module(name: str) -> FileResponse | Response:
    """A page's ES module (or style sheet) from static/js/; `catalogue.js` is the wording
    catalogue (server/words), made here so the pages and the texts read one source."""
    if name == "catalogue.js":
        return Response(
            words.script(), media_type=_TYPES["js"], headers={"Cache-Control": "no-cache"}
        )
    match = _MODULE.fullmatch(name)
    path = STATIC / "js" / name
    if match is None or not path.is_file():
        raise NotFound("no module {name}", name=name[:50])
    media = _TYPES[match[1]]
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})
