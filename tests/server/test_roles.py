"""The role table (server/roles.py, docs/roles.md) holds for every route of the app and the
socket: each role, another community's admin, a revoked session and nobody."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from groups.models import Group, Household, Resident, Staff
from server import accounts, roles
from server.roles import Role
from server.settings import Settings
from server.signin import sessions
from server.web.app import create_app
from storage.db import create_engine, create_sessionmaker, utcnow
from tests.harness import bearer, running, seed

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "/devices",
    "/",
    "/signin",
    "/s",
    "/app",
    "/board",
    "/register",
    "/plan",
    "/static/js/{name}",
    "/rollcall",
    "/sw.js",
    "/manifest.webmanifest",
    "/icon-192.png",
    "/icon-512.png",
    "/report",
}
"""Routes outside the OpenAPI document (pages): held to the table by their own rows."""


@dataclass(frozen=True)
class Persona:
    """Someone calling: their token (None: no credential) and the roles they hold."""

    name: str
    token: str | None
    held: frozenset[Role]
    signed_in: bool = True


def _schema_routes() -> set[tuple[str, str]]:
    app = create_app(Settings())
    return {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops}


def test_every_route_of_the_app_has_a_row_and_every_row_a_route() -> None:
    routes = _schema_routes()
    table = set(roles.ROUTES)
    assert routes - table == set(), "routes without a row in server/roles.py"
    assert table - routes - {("GET", p) for p in PAGES} == set(), "rows naming no route"


def test_docs_show_the_table_as_it_is() -> None:
    assert roles.table() in (ROOT / "docs" / "roles.md").read_text()


async def _personas(url: str) -> list[Persona]:
    seeded = await seed(url)
    other = await seed(url, community="另一个社区")
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            community = seeded.community_id

            async def resident_token(where: Any) -> str:
                rid = await session.scalar(
                    select(Resident.id).join(Household).where(where).order_by(Resident.id).limit(1)
                )
                assert rid is not None
                return await accounts.issue(session, community_id=community, resident_id=rid)

            leader_household = select(Group.leader_household_id).where(
                Group.community_id == community
            )
            plain = await resident_token(
                (Household.community_id == community)
                & Household.id.not_in(leader_household.scalar_subquery())
                & (Resident.roles == "")
            )
            leader = await resident_token(Household.id.in_(leader_household.scalar_subquery()))
            building = await resident_token(
                (Household.community_id == community) & Resident.roles.contains("building_leader")
            )
            grid_staff = await session.scalar(
                select(Staff.id).where(
                    Staff.community_id == community, Staff.role == "grid_manager"
                )
            )
            assert grid_staff is not None
            revoked, row = await accounts.issue_credential(
                session, community_id=community, staff_id=grid_staff, kind="session"
            )
            await sessions.revoke(session, credential_ids=[row.id], now=utcnow())
            await session.commit()
    finally:
        await engine.dispose()
    return [
        Persona("resident", plain, frozenset()),
        Persona("group leader", leader, frozenset()),
        Persona("building leader", building, frozenset()),
        *(
            Persona(role, seeded.staff[role], frozenset())
            for role in ("grid_manager", "patrol_member", "patrol_leader", "police_office", "admin")
        ),
        Persona("another community's admin", other.staff["admin"], frozenset()),
        Persona("a revoked session", revoked, frozenset(), signed_in=False),
        Persona("nobody", None, frozenset(), signed_in=False),
    ]


def _concrete(path: str) -> str:
    """The path with an id no row has: a route that may act finds nothing (404), so no call
    of the matrix deletes or changes a persona's own rows; the table is checked before."""
    return re.sub(r"\{[^}]+\}", "99999", path)


async def _with_roles(url: str, personas: list[Persona]) -> list[Persona]:
    """Each persona with the roles the service reads for its credential."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            found = []
            for persona in personas:
                held: frozenset[Role] = frozenset()
                if persona.token is not None and persona.signed_in:
                    principal = await accounts.authenticate(session, persona.token)
                    assert principal is not None, persona.name
                    held = roles.roles_of(principal)
                found.append(Persona(persona.name, persona.token, held, persona.signed_in))
            return found
    finally:
        await engine.dispose()


async def test_every_route_and_the_socket_answer_each_persona_as_the_table_says(
    sqlite_url: str,
) -> None:
    personas = await _with_roles(sqlite_url, await _personas(sqlite_url))
    assert {r for p in personas for r in p.held} == set(Role), "a role no persona holds"
    settings = Settings(database_url=sqlite_url, outbox_poll_seconds=0.05)
    async with running(settings) as base, httpx.AsyncClient(base_url=base, timeout=20) as client:
        wrong = await _sockets(base, personas)
        last = ("POST", "/api/sign-out")  # it ends each persona's credential: called last
        rows = [*(k for k in roles.ROUTES if k != last), last]
        for method, path in rows:
            for persona in personas:
                headers = bearer(persona.token) if persona.token else {}
                body: dict[str, Any] | None = None if method in ("GET", "DELETE") else {}
                answer = await client.request(method, _concrete(path), json=body, headers=headers)
                verdict = _check(roles.ROUTES[(method, path)], persona, answer)
                if verdict:
                    wrong.append(f"{method} {path} as {persona.name}: {verdict}")
    assert wrong == [], "\n".join(wrong)


def _check(rule: roles.Rule, persona: Persona, answer: httpx.Response) -> str | None:
    status = answer.status_code
    if status >= 500:
        return f"{status} {answer.text[:200]}"
    if rule is roles.PUBLIC:
        return None if status != 401 else "401 on a public route"
    if not persona.signed_in:
        return None if status == 401 else f"{status}, not 401"
    table_refusal = status == 403 and "This is for" in answer.text
    if persona.held & rule:
        if status in (401, 403):
            return f"refused though the table lets it: {answer.text[:120]}"
        return None
    return None if table_refusal else f"{status}, not the table's 403"


async def _sockets(base: str, personas: list[Persona]) -> list[str]:
    wrong = []
    url = base.replace("http", "ws", 1) + "/ws"
    for persona in personas:
        headers = bearer(persona.token) if persona.token else None
        async with connect(url, additional_headers=headers) as socket:
            try:
                first = await asyncio.wait_for(socket.recv(), 5)
            except ConnectionClosed as closed:
                first = f"closed {closed.rcvd.code if closed.rcvd else None}"
        opened = isinstance(first, str) and '"type":"hello"' in first
        may = persona.signed_in and bool(persona.held & roles.SOCKET)
        if opened != may:
            wrong.append(f"socket as {persona.name}: {first[:80]!r}")
    return wrong
