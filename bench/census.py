"""`python -m bench --census`: where a socket's memory goes, counted inside the server.

An app factory for uvicorn that starts tracemalloc, builds the app named by
`TENWATCH_CENSUS_APP` (the service by default, `bench.hollow:create_app` with `--hollow`) and
answers two bench-only requests in front of it: `POST /census/mark` remembers a snapshot (the
Python heap by allocation site, and the collector's objects by type), and
`GET /census/diff?sockets=N` says what was added since, per socket. The bench marks before its
clients connect and asks once they all have. Tracing slows the server and grows its RSS, so a
census run's RSS figure is not the bench's figure: compare census runs with census runs.

Three views of the same growth:

- by site: the innermost line that allocated (traced bytes, so strings and buffers count);
- by owner: the innermost frame outside the standard library, so an `asyncio.Queue` made by
  uvicorn counts as uvicorn's line, not asyncio's;
- by type: objects the collector tracks, counted and sized with `sys.getsizeof` (containers
  only; their strings and bytes are in the traced views).

Then a full collection, to say how much of the growth was garbage kept alive by `gc.freeze`
(the heap worker freezes whatever survived each second, garbage cycles included).
"""

import gc
import importlib
import json
import os
import sys
import sysconfig
import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

FRAMES = 16
TOP = 40
_STDLIB = sysconfig.get_paths()["stdlib"]
_SITE = sysconfig.get_paths()["purelib"]


def _types() -> tuple[Counter[str], Counter[str]]:
    """Objects and bytes (getsizeof) by type of everything the collector tracks, frozen
    objects included."""
    gc.unfreeze()  # frozen objects are not listed by gc.get_objects; the heap worker refreezes
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        name = f"{kind.__module__}.{kind.__qualname__}"
        counts[name] += 1
        sizes[name] += sys.getsizeof(obj)
    gc.freeze()
    return counts, sizes


def _short(filename: str) -> str:
    for base in (_SITE, _STDLIB, os.getcwd()):
        if filename.startswith(base):
            return filename[len(base) :].lstrip("/")
    return filename


def _owner(traceback: tracemalloc.Traceback) -> str:
    """The innermost frame not in the standard library (asyncio, json, …), else the innermost."""
    for frame in reversed(traceback):  # oldest first: walk from the innermost outwards
        if frame.filename.startswith(_SITE) or not frame.filename.startswith(_STDLIB):
            return f"{_short(frame.filename)}:{frame.lineno}"
    return f"{_short(traceback[-1].filename)}:{traceback[-1].lineno}"


def _site(traceback: tracemalloc.Traceback) -> str:
    return f"{_short(traceback[-1].filename)}:{traceback[-1].lineno}"


def _grouped(
    diffs: list[tracemalloc.StatisticDiff], key: Callable[[tracemalloc.Traceback], str]
) -> Counter[str]:
    grouped: Counter[str] = Counter()
    for diff in diffs:
        grouped[key(diff.traceback)] += diff.size_diff
    return grouped


def _top(grouped: Counter[str], sockets: int) -> list[tuple[str, float]]:
    return [(name, size / sockets) for name, size in grouped.most_common(TOP)]


class Census:
    """The bench's census requests in front of an app; everything else passes through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.snapshot: tracemalloc.Snapshot | None = None
        self.types: tuple[Counter[str], Counter[str]] = (Counter(), Counter())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer /census/mark and /census/diff; pass everything else on."""
        if scope["type"] != "http" or not scope["path"].startswith("/census/"):
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/census/mark":
            self.snapshot, self.types = tracemalloc.take_snapshot(), _types()
            body: dict[str, Any] = {"traced": tracemalloc.get_traced_memory()[0]}
        else:
            query = parse_qs(scope["query_string"].decode())
            body = self.diff(int(query.get("sockets", ["1"])[0]))
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def diff(self, sockets: int) -> dict[str, Any]:
        """What was added since the mark, per socket, in three views; then what a full
        collection frees."""
        assert self.snapshot is not None, "POST /census/mark first"
        now = tracemalloc.take_snapshot()
        (counts, sizes), (counts0, sizes0) = _types(), self.types
        diffs = now.compare_to(self.snapshot, "traceback")
        traced = sum(d.size_diff for d in diffs)
        per_type = [
            (name, (counts[name] - counts0[name]) / sockets, size / sockets)
            for name, size in (sizes - sizes0).most_common(TOP)
        ]
        held = tracemalloc.get_traced_memory()[0]
        gc.unfreeze()
        freed_objects = gc.collect()
        gc.freeze()
        freed = held - tracemalloc.get_traced_memory()[0]
        return {
            "sockets": sockets,
            "traced_bytes_per_socket": traced / sockets,
            "by_site": _top(_grouped(diffs, _site), sockets),
            "by_owner": _top(_grouped(diffs, _owner), sockets),
            "by_type": per_type,
            "garbage_bytes_per_socket": freed / sockets,
            "garbage_objects_per_socket": freed_objects / sockets,
        }


def create_app() -> ASGIApp:
    """The census in front of the app TENWATCH_CENSUS_APP names (a uvicorn factory)."""
    tracemalloc.start(FRAMES)
    module, _, name = os.environ.get("TENWATCH_CENSUS_APP", "server.web.app:create_app").partition(
        ":"
    )
    factory: Callable[[], ASGIApp] = getattr(importlib.import_module(module), name)
    return Census(factory())


def render(census: dict[str, Any]) -> str:
    """The census as text: bytes a socket by site, by owner and by type."""
    lines = [
        "",
        f"census at {census['sockets']} sockets: {census['traced_bytes_per_socket'] / 1024:.2f}"
        " KiB traced a socket; a full collection then freed"
        f" {census['garbage_bytes_per_socket'] / 1024:.2f} KiB"
        f" ({census['garbage_objects_per_socket']:.1f} objects) a socket",
    ]
    for title, key in (("by owner", "by_owner"), ("by site", "by_site")):
        lines += ["", f"  {title} (bytes a socket)"]
        lines += [f"    {size:9.1f}  {where}" for where, size in census[key] if abs(size) >= 8]
    lines += ["", "  by type (objects a socket, getsizeof bytes a socket)"]
    lines += [
        f"    {count:6.2f} {size:9.1f}  {name}"
        for name, count, size in census["by_type"]
        if size >= 8
    ]
    return "\n".join([*lines, ""])
