"""Shared parts of the phone tests: Twilio settings, alarm numbers, reading what was stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select, update

from groups import directory
from groups.models import Household, Resident
from notifier.models import OutboxMessage
from server.alarms.models import Alert, AlertEvent
from server.runtime.clock import Clock, system_clock
from server.settings import Settings
from storage.db import create_engine, create_sessionmaker
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, running

PUBLIC = "https://tenwatch.example.org"
"""Where Twilio reaches the service (what it signs); the fake routes it to the test server."""
FROM = "+15005550006"
GROUP_NUMBER = "+8610110000001"
"""The alarm number of the group of B11-1-101."""
COMMUNITY_NUMBER = "+8610110000099"
"""The alarm number of the whole demo community."""
STRANGER = "+8613999999999"


def phone_settings(url: str, fake: FakeTwilio, **overrides: Any) -> Settings:
    """Settings that text and call through the fake Twilio, with our public URL."""
    values: dict[str, Any] = {
        "database_url": url,
        "twilio_account_sid": fake.account_sid,
        "twilio_auth_token": fake.auth_token,
        "twilio_from": FROM,
        "twilio_api_url": fake.url,
        "public_base_url": PUBLIC,
        "outbox_poll_seconds": 0.05,
        "phone_menu_seconds": 3,
    }
    return Settings(**(values | overrides))


async def add_numbers(url: str, seeded: Seed) -> None:
    """Register GROUP_NUMBER for B11-1-101's group and COMMUNITY_NUMBER for the community."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            await directory.add_alarm_number(
                session,
                community_id=seeded.community_id,
                number=GROUP_NUMBER,
                group_id=seeded.groups["B11-1-101"],
            )
            await directory.add_alarm_number(
                session, community_id=seeded.community_id, number=COMMUNITY_NUMBER
            )
            await session.commit()
    finally:
        await engine.dispose()


async def phone_of(url: str, address: str) -> str:
    """The phone of the first resident of the household at address."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            phone = await session.scalar(
                select(Resident.phone)
                .join(Household, Resident.household_id == Household.id)
                .where(Household.address == address)
                .order_by(Resident.id)
            )
            assert phone is not None
            return phone
    finally:
        await engine.dispose()


async def speak_english(url: str, address: str) -> None:
    """Mark the household at address as English-speaking."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            await session.execute(
                update(Household).where(Household.address == address).values(language="en")
            )
            await session.commit()
    finally:
        await engine.dispose()


async def rows(url: str, model: Any) -> list[Any]:
    """Every row of a table (Alert, AlertEvent, OutboxMessage …), by id."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list(await session.scalars(select(model).order_by(model.id)))
    finally:
        await engine.dispose()


async def alerts_of(url: str) -> list[Alert]:
    """Every alarm stored."""
    return await rows(url, Alert)


async def events_of(url: str) -> list[AlertEvent]:
    """Every alarm event stored."""
    return await rows(url, AlertEvent)


async def outbox_of(url: str) -> list[OutboxMessage]:
    """Every outbox job."""
    return await rows(url, OutboxMessage)


@asynccontextmanager
async def serving(
    settings: Settings, fake: FakeTwilio, *, clock: Clock = system_clock
) -> AsyncIterator[str]:
    """The app on real uvicorn (on the given clock), with the fake Twilio routing our public
    URL to it."""
    async with running(settings, clock=clock) as base:
        fake.route(public=PUBLIC, app=base)
        yield base


def call(sid: str, phone: str, to: str, **extra: str) -> dict[str, str]:
    """The form of a voice webhook for one call."""
    return {"CallSid": sid, "From": phone, "To": to, "Direction": "inbound", **extra}


def text(sid: str, phone: str, to: str, body: str) -> dict[str, str]:
    """The form of an incoming-SMS webhook."""
    return {"MessageSid": sid, "SmsSid": sid, "From": phone, "To": to, "Body": body}
