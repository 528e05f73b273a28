"""Invites: a text to the residents of some households with a short link to the sign-in page,
in each household's language, queued in the outbox like any text (sent once)."""

from datetime import datetime, timedelta

from sqlalchemy import exists, select

from groups.models import Credential, Household, Resident
from notifier.models import OutboxMessage
from server.runtime.work import texts_queued
from storage.db import AsyncSession

VALID_FOR = timedelta(days=2)
WORDS = {
    "zh": "{name}您好：十户联防已为您家（{address}）开通。用手机号登录：{link}",
    "en": "Hello {name}: TenWatch is ready for your home ({address}). Sign in: {link}",
}


def link(public_base_url: str) -> str:
    """The short link an invite carries: it opens the sign-in page."""
    return public_base_url.rstrip("/") + "/s"


async def invite(
    session: AsyncSession,
    *,
    community_id: int,
    public_base_url: str,
    now: datetime,
    household_ids: list[int] | None = None,
    group_id: int | None = None,
    not_signed_in: bool = False,
) -> int:
    """Queue an invite for every resident with a phone of the households named (by ids, by
    group, or all of the community); with not_signed_in, only those never signed in. Returns
    how many texts were queued."""
    query = (
        select(Resident.id, Resident.name, Resident.phone, Household.address, Household.language)
        .join(Household, Resident.household_id == Household.id)
        .where(Household.community_id == community_id, Resident.phone.is_not(None))
        .order_by(Resident.id)
    )
    if household_ids is not None:
        query = query.where(Household.id.in_(household_ids))
    if group_id is not None:
        query = query.where(Household.group_id == group_id)
    if not_signed_in:
        signed_in = exists().where(
            Credential.resident_id == Resident.id, Credential.kind == "session"
        )
        query = query.where(~signed_in)
    target = link(public_base_url)
    seen: set[str] = set()
    count = 0
    for resident_id, name, phone, address, language in await session.execute(query):
        if phone is None or phone in seen:
            continue
        seen.add(phone)
        words = WORDS.get(language, WORDS["zh"])
        session.add(
            OutboxMessage(
                community_id=community_id,
                resident_id=resident_id,
                channel="sms",
                to=phone,
                body=words.format(name=name, address=address, link=target),
                next_attempt_at=now,
                expires_at=now + VALID_FOR,
                created_at=now,
            )
        )
        count += 1
    texts_queued(session, count)
    return count
