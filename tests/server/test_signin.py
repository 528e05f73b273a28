"""Signing in by phone with the console backend: codes, tries, limits, the choice of who, the
cookie and its CSRF guard, device sessions and their revocation, stream tickets, invites."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select, update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from groups.models import Household, Resident
from notifier.models import OutboxMessage
from server.settings import Settings
from storage.db import create_engine, create_sessionmaker
from tests.harness import Seed, running
from tests.server.signin_support import IPHONE, Browser, printed_code

RESIDENT = "+8613800000001"  # B11-1-101, the first demo household
ADMIN = "+8613900000005"
UNKNOWN = "+8613700000000"


async def _closed_within(socket: ClientConnection, *, seconds: float) -> tuple[int, str]:
    """Read until the server closes the socket, at most so long; its close code and reason."""

    async def drain() -> None:
        while True:
            await socket.recv()

    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(drain(), seconds)
    frame = closed.value.rcvd
    assert frame is not None
    return frame.code, frame.reason


@pytest.fixture
def embedded(sqlite_url: str) -> Settings:
    return Settings(database_url=sqlite_url, outbox_poll_seconds=0.05, ws_heartbeat_seconds=5)


async def test_a_resident_signs_in_with_the_texted_code_and_the_cookie_speaks_for_them(
    embedded: Settings, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(embedded) as base, Browser(base) as browser:
        signed = await browser.sign_in(RESIDENT, capsys)
        assert signed["household"] == "B11-1-101"
        assert signed["kind"] == "resident"
        cookie = next(c for c in browser.client.cookies.jar if c.name == "tw_session")
        assert cookie.has_nonstandard_attr("HttpOnly")
        me = await browser.get("/api/me")
        assert me.status_code == 200
        assert me.json()["household"] == "B11-1-101"
        pressed = await browser.send("POST", "/api/alerts", {"type": "help"})
        assert pressed.status_code == 201, pressed.text


async def test_a_cookie_request_that_changes_state_needs_the_csrf_header_and_this_origin(
    embedded: Settings, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(embedded) as base, Browser(base) as browser:
        await browser.sign_in(RESIDENT, capsys)
        bare = await browser.client.post("/api/alerts", json={"type": "help"})
        assert bare.status_code == 403
        assert "another site" in bare.json()["detail"]
        wrong = await browser.client.post(
            "/api/alerts", json={"type": "help"}, headers={"X-CSRF-Token": "guess"}
        )
        assert wrong.status_code == 403
        elsewhere = await browser.client.post(
            "/api/alerts",
            json={"type": "help"},
            headers={
                "X-CSRF-Token": browser.client.cookies["tw_csrf"],
                "Origin": "https://evil.example",
            },
        )
        assert elsewhere.status_code == 403
        engine = create_engine(embedded.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                assert (await session.scalar(select(OutboxMessage.id).limit(1))) is None
        finally:
            await engine.dispose()


async def test_an_unknown_number_gets_the_same_answer_and_no_text(
    embedded: Settings, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(embedded) as base, Browser(base) as browser:
        known = await browser.ask_code(RESIDENT)
        unknown = await browser.ask_code(UNKNOWN)
        assert known.status_code == unknown.status_code == 202
        assert known.json() == unknown.json()
        out = capsys.readouterr().out
        assert RESIDENT in out
        assert UNKNOWN not in out
        refused = await browser.verify(UNKNOWN, "123456")
        assert refused.status_code == 401


async def test_five_wrong_codes_spend_it_and_a_new_one_is_needed(
    embedded: Settings, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(embedded) as base, Browser(base) as browser:
        await browser.ask_code(RESIDENT)
        good = printed_code(capsys, RESIDENT)
        bad = f"{(int(good) + 1) % 1_000_000:06d}"
        answers = [(await browser.verify(RESIDENT, bad)).status_code for _ in range(5)]
        assert answers == [401] * 5
        assert (await browser.verify(RESIDENT, good)).status_code == 401  # spent
        assert browser.session_cookie is None
        await browser.ask_code(RESIDENT)
        fresh = await browser.verify(RESIDENT, printed_code(capsys, RESIDENT))
        assert fresh.status_code == 200


async def test_a_code_ends_after_its_minutes(
    sqlite_url: str, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    short = Settings(database_url=sqlite_url, sign_in_code_seconds=1)
    async with running(short) as base, Browser(base) as browser:
        await browser.ask_code(RESIDENT)
        code = printed_code(capsys, RESIDENT)
        await asyncio.sleep(1.2)
        assert (await browser.verify(RESIDENT, code)).status_code == 401


async def test_codes_are_limited_per_number_and_per_client(
    embedded: Settings, seeded: Seed
) -> None:
    async with running(embedded) as base, Browser(base) as browser:
        per_number = [(await browser.ask_code(RESIDENT)).status_code for _ in range(6)]
        assert per_number == [202] * 5 + [429]
        others = [f"+86137000{n:05d}" for n in range(20)]
        per_client = [(await browser.ask_code(phone)).status_code for phone in others]
        assert per_client.count(429) == 5  # 20 an hour from one client: 5 sent before, 15 now


async def test_one_phone_of_two_households_chooses_who_signs_in(
    embedded: Settings, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_engine(embedded.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            parent = await session.scalar(
                select(Resident.id)
                .join(Household)
                .where(Household.address == "B12-1-101")
                .order_by(Resident.id)
                .limit(1)
            )
            await session.execute(
                update(Resident).where(Resident.id == parent).values(phone=RESIDENT)
            )
            await session.commit()
    finally:
        await engine.dispose()
    async with running(embedded) as base, Browser(base) as browser:
        await browser.ask_code(RESIDENT)
        answer = (await browser.verify(RESIDENT, printed_code(capsys, RESIDENT))).json()
        assert answer["signed_in"] is False
        assert [c["label"].split()[0] for c in answer["choose"]] == ["B11-1-101", "B12-1-101"]
        chosen = await browser.client.post(
            "/api/sign-in/choose",
            json={"phone": RESIDENT, "choice": answer["choice"], "identity": f"resident:{parent}"},
        )
        assert chosen.status_code == 200
        assert chosen.json()["household"] == "B12-1-101"
        again = await browser.client.post(
            "/api/sign-in/choose",
            json={"phone": RESIDENT, "choice": answer["choice"], "identity": f"resident:{parent}"},
        )
        assert again.status_code == 401  # the choice is spent


async def test_first_sign_in_of_a_household_without_a_pin_asks_for_one(
    embedded: Settings, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(embedded) as base, Browser(base) as browser:
        signed = await browser.sign_in(RESIDENT, capsys)
        assert signed["needs_pin"] is True
        set_pin = await browser.send(
            "PUT", "/api/household/pin", {"pin": "2468", "duress_pin": "1357"}
        )
        assert set_pin.status_code == 204, set_pin.text
    async with running(embedded) as base, Browser(base) as browser:
        assert (await browser.sign_in(RESIDENT, capsys))["needs_pin"] is False


async def test_my_devices_are_named_listed_and_a_lost_phone_is_signed_out_at_once(
    embedded: Settings, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    async with (
        running(embedded) as base,
        Browser(base) as phone,
        Browser(base, user_agent=IPHONE) as tablet,
    ):
        await phone.sign_in(RESIDENT, capsys)
        lost = await tablet.sign_in(RESIDENT, capsys)
        devices = [d for d in (await phone.get("/api/sessions")).json() if d["kind"] == "session"]
        assert {d["device"] for d in devices} == {"Android · Chrome", "iPhone · Safari"}
        assert [d["current"] for d in devices if d["device"] == "Android · Chrome"] == [True]
        ws = base.replace("http", "ws", 1) + "/ws"
        cookie = {"Cookie": f"tw_session={tablet.session_cookie}", "Origin": base}
        async with connect(ws, additional_headers=cookie) as socket:
            assert json.loads(await socket.recv())["type"] == "hello"
            revoked = await phone.send("DELETE", f"/api/sessions/{lost['session_id']}")
            assert revoked.status_code == 204
            closed = await _closed_within(socket, seconds=1)
        assert closed == (1008, "signed out: this session was revoked")
        assert (await tablet.get("/api/me")).status_code == 401
        assert (await phone.get("/api/me")).status_code == 200


async def test_an_admin_lists_and_revokes_anyones_session_and_others_cannot(
    embedded: Settings, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(embedded) as base, Browser(base) as resident, Browser(base) as admin:
        mine = await resident.sign_in(RESIDENT, capsys)
        await admin.sign_in(ADMIN, capsys)
        assert (await resident.get("/api/community/sessions")).status_code == 403
        listed = (await admin.get("/api/community/sessions")).json()
        assert mine["session_id"] in {s["id"] for s in listed}
        assert all("token" not in s for s in listed)
        assert (
            await admin.send("DELETE", f"/api/sessions/{mine['session_id']}")
        ).status_code == 204
        assert (await resident.get("/api/me")).status_code == 401


async def test_signing_out_ends_the_session_and_clears_the_cookie(
    embedded: Settings, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(embedded) as base, Browser(base) as browser:
        await browser.sign_in(RESIDENT, capsys)
        secret = browser.session_cookie
        assert (await browser.send("POST", "/api/sign-out")).status_code == 204
        assert browser.session_cookie is None
        browser.client.cookies.set("tw_session", secret or "")
        assert (await browser.get("/api/me")).status_code == 401


async def test_a_socket_by_cookie_from_another_site_is_refused(
    embedded: Settings, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(embedded) as base, Browser(base) as browser:
        await browser.sign_in(RESIDENT, capsys)
        ws = base.replace("http", "ws", 1) + "/ws"
        headers = {
            "Cookie": f"tw_session={browser.session_cookie}",
            "Origin": "https://evil.example",
        }
        async with connect(ws, additional_headers=headers) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
        assert "another site" in closed.value.rcvd.reason


async def test_a_stream_ticket_opens_one_socket_once(
    embedded: Settings, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(embedded) as base, Browser(base) as browser:
        await browser.sign_in(RESIDENT, capsys)
        ticket = (await browser.send("POST", "/api/stream/ticket")).json()["ticket"]
        ws = base.replace("http", "ws", 1) + f"/ws?ticket={ticket}"
        async with connect(ws) as socket:
            hello = json.loads(await socket.recv())
            assert hello["type"] == "hello"
            assert hello["channel"].startswith("group:")
        async with connect(ws) as again:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(again.recv(), 5)
        assert closed.value.rcvd is not None
        assert "ticket" in closed.value.rcvd.reason


async def test_invites_text_a_link_in_the_households_language(
    embedded: Settings, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_engine(embedded.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            await session.execute(
                update(Household).where(Household.address == "B11-1-102").values(language="en")
            )
            await session.commit()
    finally:
        await engine.dispose()
    async with running(embedded) as base, Browser(base) as admin, Browser(base) as resident:
        await admin.sign_in(ADMIN, capsys)
        await resident.sign_in(RESIDENT, capsys)
        one = await admin.send("POST", "/api/invites", {"household": "B11-1-102"})
        assert one.json() == {"invited": 1}
        everyone = await admin.send("POST", "/api/invites", {"not_signed_in": True})
        assert everyone.json() == {"invited": 39}  # all but the resident who signed in
        assert (
            await resident.send("POST", "/api/invites", {"household": "B11-1-102"})
        ).status_code == 403
    engine = create_engine(embedded.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            bodies = list(
                await session.scalars(
                    select(OutboxMessage.body).where(OutboxMessage.alert_id.is_(None))
                )
            )
    finally:
        await engine.dispose()
    assert len(bodies) == 40
    assert any(b.startswith("Hello ") and b.endswith("/s") for b in bodies)
    assert sum("登录" in b for b in bodies) == 38


async def test_behind_https_the_cookies_are_secure_and_the_session_one_httponly(
    sqlite_url: str, seeded: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    behind_https = Settings(database_url=sqlite_url, public_base_url="https://tenwatch.example")
    async with running(behind_https) as base, Browser(base) as browser:
        await browser.ask_code(RESIDENT)
        answer = await browser.verify(RESIDENT, printed_code(capsys, RESIDENT))
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("tw_session="))
    csrf = next(c for c in cookies if c.startswith("tw_csrf="))
    assert "Secure" in session
    assert "HttpOnly" in session
    assert "SameSite=lax" in session
    assert "Secure" in csrf
    assert "HttpOnly" not in csrf
