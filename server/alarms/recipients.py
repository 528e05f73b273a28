"""Who is told of an alarm, and their outbox rows: the neighbours of its groups, the patrol on
duty for its area, the police office, the building's leaders; one row per distinct phone, in the
recipient's language, queued in the alarm's transaction (and, at the all clear, who was texted
and is to be told). Directory reads are kept in the transaction's memo: a batch of presses
reads each group's residents once."""

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update

from groups import duty
from groups.models import Credential, Household, Resident, Staff
from notifier.models import PENDING, SENDING, SENT, WITHDRAWN, OutboxMessage
from notifier.push.models import PushAnswer, PushSubscription
from server import words
from server.alarms import texts
from server.alarms.models import Alert
from server.runtime.work import texts_queued
from storage import deferred
from storage.db import AsyncSession, memo, read, table_of

SMS_VALID_FOR = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A phone to text, whose it is, and the language to text it in."""

    to: str
    language: str = "zh"
    resident_id: int | None = None
    staff_id: int | None = None
    household_id: int | None = None


def _residents(rows: Iterable[tuple[int, str | None, int, str]]) -> list[Recipient]:
    return [
        Recipient(to=phone, language=language, resident_id=rid, household_id=hid)
        for rid, phone, hid, language in rows
        if phone
    ]


def _staff(rows: Iterable[Staff | duty.Member]) -> list[Recipient]:
    return [
        Recipient(to=member.phone, staff_id=member.id, language=member.language or "zh")
        for member in rows
    ]


_NEIGHBOURS = (
    select(Resident.id, Resident.phone, Household.id, Household.language)
    .join(Household, Resident.household_id == Household.id)
    .where(
        Household.group_id.in_(bindparam("group_ids", expanding=True)),
        Household.id != bindparam("exclude"),
    )
)
_OUTBOX = table_of(OutboxMessage)
_POLICE_OFFICE = select(Staff.phone, Staff.id, Staff.language).where(
    Staff.community_id == bindparam("community_id"), Staff.role == "police_office"
)


_NEIGHBOURS_OF_GROUPS = (
    select(
        Resident.id,
        Resident.phone,
        Household.id,
        Household.language,
        Household.group_id,
        Household.grid_id,
    )
    .join(Household, Resident.household_id == Household.id)
    .where(Household.group_id.in_(bindparam("group_ids", expanding=True)))
)


async def prefetch(
    session: AsyncSession,
    *,
    community_id: int,
    group_ids: Sequence[int],
    at: datetime,
    timezone: str,
    police: bool = True,
) -> None:
    """Read at once what a batch of presses will ask for one by one — the residents and grids
    of their groups, the community's roster on duty, its police office — so that `neighbours`,
    `patrol` and `police_office` find it in the transaction's memo and nothing written waits
    for a read in between."""
    await _roster(session, community_id=community_id, at=at, timezone=timezone)
    if police:  # only a press that confirms another needs it: for a lone press, ask then
        await _police(session, community_id=community_id)
    if not group_ids:
        return
    cache = memo(session)
    residents: dict[int | None, list[Any]] = {g: [] for g in group_ids}
    for row in (await read(session, _NEIGHBOURS_OF_GROUPS, {"group_ids": list(group_ids)})).all():
        residents[row[4]].append(row)
    for group, of_one in residents.items():  # group ids of the query: never None
        cache[("residents", (group,))] = [row[:4] for row in of_one]
        cache[("grids", group)] = {row[2]: row[5] for row in of_one}
    pushed_to: dict[int | None, list[Any]] = {g: [] for g in group_ids}
    params = {"group_ids": list(group_ids), "now": at}
    for device in (await read(session, _DEVICES_OF_GROUPS, params)).all():
        pushed_to[device[5]].append(device[:5])
    for group, of_one in pushed_to.items():
        cache[("devices", (group,))] = of_one


async def neighbours(
    session: AsyncSession, *, group_ids: Iterable[int], exclude_household: int | None
) -> tuple[list[Recipient], int]:
    """The residents of the given groups but the raising household, and how many households."""
    groups = tuple(group_ids)
    cache = memo(session)
    rows: list[Any] | None = cache.get(("residents", groups))
    if rows is None:
        params = {"group_ids": list(groups), "exclude": 0}
        rows = cache[("residents", groups)] = list((await read(session, _NEIGHBOURS, params)).all())
    rows = [row for row in rows if row[2] != exclude_household]
    return _residents(rows), len({row[2] for row in rows})


async def patrol(
    session: AsyncSession, *, alert: Alert, at: datetime, timezone: str
) -> list[Recipient]:
    """The patrol members on duty for the alarm's area: its household's grid (staff of no grid
    cover every grid), or the whole community. The roster and the grids of a group's households
    are read once a transaction, which a batch of presses shares."""
    roster = await _roster(session, community_id=alert.community_id, at=at, timezone=timezone)
    grid = await _grid_of(session, household_id=alert.household_id, group_id=alert.group_id)
    return _staff(m for m in roster if m.grid_id is None or grid is None or m.grid_id == grid)


async def _roster(
    session: AsyncSession, *, community_id: int, at: datetime, timezone: str
) -> list[duty.Member]:
    """The community's patrol on duty, read once a transaction."""
    cache = memo(session)
    roster: list[duty.Member] | None = cache.get(("roster", community_id))
    if roster is None:
        roster = cache[("roster", community_id)] = await duty.on_duty(
            session, community_id=community_id, at=at, timezone=timezone
        )
    return roster


_GRIDS = select(Household.id, Household.grid_id)
_GRIDS_OF_GROUP = _GRIDS.where(Household.group_id == bindparam("group_id"))
_GRID_OF_HOUSEHOLD = _GRIDS.where(Household.id == bindparam("household_id"))


async def _grid_of(
    session: AsyncSession, *, household_id: int | None, group_id: int | None
) -> int | None:
    if household_id is None:
        return None
    cache = memo(session)
    grids: dict[int, int | None] | None = cache.get(("grids", group_id))
    if grids is None or household_id not in grids:
        statement, params = (
            (_GRIDS_OF_GROUP, {"group_id": group_id})
            if group_id
            else (_GRID_OF_HOUSEHOLD, {"household_id": household_id})
        )
        grids = {**(grids or {}), **dict((await read(session, statement, params)).all())}
        cache[("grids", group_id)] = grids
    return grids.get(household_id)


async def police_office(session: AsyncSession, *, community_id: int) -> list[Recipient]:
    """The police office's contacts of a community."""
    return [
        Recipient(to=phone, staff_id=staff_id, language=language or "zh")
        for phone, staff_id, language in await _police(session, community_id=community_id)
    ]


async def _police(session: AsyncSession, *, community_id: int) -> list[Any]:
    cache = memo(session)
    rows: list[Any] | None = cache.get(("police", community_id))
    if rows is None:
        found = await read(session, _POLICE_OFFICE, {"community_id": community_id})
        rows = cache[("police", community_id)] = list(found)
    return rows


async def leaders(session: AsyncSession, *, household: Household) -> list[Recipient]:
    """The building leaders of the household's building and the grid managers of its grid."""
    wanted = [
        and_(
            Household.building == household.building,
            Resident.roles.contains("building_leader"),
        )
    ]
    if household.grid_id is not None:
        wanted.append(
            and_(Household.grid_id == household.grid_id, Resident.roles.contains("grid_manager"))
        )
    residents = (
        await session.execute(
            select(Resident.id, Resident.phone, Household.id, Household.language)
            .join(Household, Resident.household_id == Household.id)
            .where(Household.community_id == household.community_id, or_(*wanted))
        )
    ).all()
    managers = await session.scalars(
        select(Staff).where(
            Staff.community_id == household.community_id,
            Staff.role == "grid_manager",
            or_(Staff.grid_id.is_(None), Staff.grid_id == household.grid_id),
        )
    )
    return _residents(residents) + _staff(managers)


async def queue(
    session: AsyncSession,
    *,
    alert: Alert,
    event_id: int | None,
    recipients: Iterable[Recipient],
    text: Callable[[Recipient], str],
    now: datetime,
    channel: str = "sms",
) -> int:
    """Write one outbox row per distinct phone; returns how many."""
    seen: set[str] = set()
    rows = []
    for recipient in recipients:
        if recipient.to in seen:
            continue
        seen.add(recipient.to)
        rows.append(
            {
                "community_id": alert.community_id,
                "alert_id": alert.id,
                "event_id": event_id,
                "resident_id": recipient.resident_id,
                "staff_id": recipient.staff_id,
                "to": recipient.to,
                "channel": channel,
                "body": text(recipient),
                "next_attempt_at": now,
                "expires_at": now + SMS_VALID_FOR,
                "created_at": now,
            }
        )
    if rows:
        deferred.add_all(session, _OUTBOX, rows)
        texts_queued(session, len(rows))
    return len(rows)


async def tell(
    session: AsyncSession,
    *,
    alert: Alert,
    kind: texts.Kind,
    event_id: int | None,
    recipients: Iterable[Recipient],
    now: datetime,
    channel: str = "sms",
    cycle: int = 1,
    outcome: str = "handled",
    name: str | None = None,
) -> int:
    """Queue one text (or call) of a kind about the alarm for each recipient, in their
    language (naming the raiser if given); returns how many."""
    return await queue(
        session,
        alert=alert,
        event_id=event_id,
        recipients=recipients,
        now=now,
        channel=channel,
        text=lambda r: texts.body(
            kind,
            language=r.language,
            address=alert.address or "?",
            name=name,
            alert_type=alert.type,
            drill=alert.drill,
            cycle=cycle,
            outcome=outcome,
        ),
    )


# -- Web Push ---------------------------------------------------------------------------------

_DEVICES = (
    select(
        PushSubscription.id,
        PushSubscription.credential_id,
        Household.id,
        Household.language,
        PushSubscription.resident_id,
        Household.group_id,
    )
    .join(Resident, PushSubscription.resident_id == Resident.id)
    .join(Household, Resident.household_id == Household.id)
    # A device signed out (its session revoked or ended) is pushed nothing.
    .join(Credential, PushSubscription.credential_id == Credential.id)
    .where(
        Credential.revoked_at.is_(None),
        or_(Credential.expires_at.is_(None), Credential.expires_at > bindparam("now")),
    )
)
_DEVICES_OF_GROUPS = _DEVICES.where(
    Household.group_id.in_(bindparam("group_ids", expanding=True))
).order_by(PushSubscription.id)
_ANSWERS = table_of(PushAnswer)


def answer_digest(token: str) -> str:
    """What is kept of a push's answer token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def devices(
    session: AsyncSession, *, group_ids: Iterable[int], exclude_household: int | None, now: datetime
) -> list[Any]:
    """The push subscriptions of the given groups' residents but the raising household's:
    (id, credential id, household id, language, resident id). A batch reads them once
    (`prefetch`)."""
    groups = tuple(group_ids)
    cache = memo(session)
    rows: list[Any] | None = cache.get(("devices", groups))
    if rows is None:
        params = {"group_ids": list(groups), "now": now}
        found = (await read(session, _DEVICES_OF_GROUPS, params)).all()
        rows = cache[("devices", groups)] = [row[:5] for row in found]
    return [row for row in rows if row[2] != exclude_household]


def _push_row(
    alert: Alert,
    *,
    event_id: int | None,
    to: int,
    resident_id: int | None,
    body: Any,
    now: datetime,
) -> Any:
    return {
        "community_id": alert.community_id,
        "alert_id": alert.id,
        "event_id": event_id,
        "resident_id": resident_id,
        "staff_id": None,
        "to": str(to),
        "channel": "push",
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        "next_attempt_at": now,
        "expires_at": now + SMS_VALID_FOR,
        "created_at": now,
    }


async def push_alarm(
    session: AsyncSession,
    *,
    alert: Alert,
    event_id: int | None,
    raised_by: str,
    now: datetime,
    group_ids: Sequence[int] | None = None,
    kind: texts.Kind = "alarm",
) -> int:
    """Queue one push of the alarm to each device of its group's other households (or of the
    groups it is widened to, with the `widened` text), each with its own answer token (kept
    hashed, for this alarm, as long as the alarm's text is valid); returns how many."""
    if group_ids is None:
        if alert.group_id is None:
            return 0
        group_ids = [alert.group_id]
    found = await devices(
        session, group_ids=group_ids, exclude_household=alert.household_id, now=now
    )
    rows, answers = [], []
    for subscription_id, credential_id, _household, language, resident_id in found:
        lang = "en" if language == "en" else "zh"
        token = secrets.token_urlsafe(32)
        if credential_id is not None:
            answers.append(
                {
                    "token_hash": answer_digest(token),
                    "alert_id": alert.id,
                    "credential_id": credential_id,
                    "expires_at": now + SMS_VALID_FOR,
                }
            )
        coming, cant = (words.say(f"app.answer.{a}", language=lang) for a in ("coming", "cant"))
        type_name = texts.type_name(alert.type, language=lang)
        payload = {
            "type": "alert",
            "alert_id": alert.id,
            "tag": f"alert-{alert.id}",
            "title": f"{alert.address or '?'} {raised_by} · {type_name}",
            "body": texts.body(
                kind,
                language=lang,
                address=alert.address or "?",
                name=raised_by or None,
                alert_type=alert.type,
                drill=alert.drill,
            ),
            "answer_token": token if credential_id is not None else None,
            "actions": [
                {"action": "coming", "title": coming},
                {"action": "cant", "title": cant},
            ]
            if credential_id is not None
            else [],
            "url": "/app",
        }
        rows.append(
            _push_row(
                alert,
                event_id=event_id,
                to=subscription_id,
                resident_id=resident_id,
                body=payload,
                now=now,
            )
        )
    if rows:
        deferred.add_all(session, _OUTBOX, rows)
        deferred.add_all(session, _ANSWERS, answers)
        texts_queued(session, len(rows))
    return len(rows)


async def push_all_clear(
    session: AsyncSession, *, alert: Alert, event_id: int, outcome: str, now: datetime
) -> int:
    """Queue the all clear to every device the alarm was pushed to before this event (its
    notification, of the same tag, is replaced); returns how many."""
    pushed = await session.execute(
        select(OutboxMessage.to, OutboxMessage.resident_id, Household.language)
        .join(Resident, OutboxMessage.resident_id == Resident.id)
        .join(Household, Resident.household_id == Household.id)
        .where(
            OutboxMessage.alert_id == alert.id,
            OutboxMessage.channel == "push",
            OutboxMessage.status.in_((SENDING, SENT)),
            OutboxMessage.event_id < event_id,
        )
        .order_by(OutboxMessage.id)
    )
    rows, seen = [], set()
    for to, resident_id, language in pushed:
        if to in seen:
            continue
        seen.add(to)
        lang = "en" if language == "en" else "zh"
        payload = {
            "type": "all_clear",
            "alert_id": alert.id,
            "tag": f"alert-{alert.id}",
            "title": f"{alert.address or '?'} · {words.say('app.closed', language=lang)}",
            "body": texts.body(
                "all_clear",
                language=lang,
                address=alert.address or "?",
                alert_type=alert.type,
                drill=alert.drill,
                outcome=outcome,
            ),
            "url": "/app",
        }
        rows.append(
            _push_row(
                alert, event_id=event_id, to=int(to), resident_id=resident_id, body=payload, now=now
            )
        )
    if rows:
        deferred.add_all(session, _OUTBOX, rows)
        texts_queued(session, len(rows))
    return len(rows)


# -- the all clear ----------------------------------------------------------------------------


async def withdraw_and_find_texted(
    session: AsyncSession, *, alert_id: int, event_id: int, residents: bool, staff: bool
) -> list["Recipient"]:
    """Withdraw an alarm's texts not yet sent (to residents, staff, or both) and return who was
    already texted about it before this event, to be told all clear."""
    whose = []
    if residents:
        whose.append(OutboxMessage.resident_id.is_not(None))
    if staff:
        whose.append(OutboxMessage.staff_id.is_not(None))
    if not whose:
        return []
    mine = (OutboxMessage.alert_id == alert_id, or_(*whose))
    await session.execute(
        update(OutboxMessage).where(*mine, OutboxMessage.status == PENDING).values(status=WITHDRAWN)
    )
    rows = await session.execute(
        select(
            OutboxMessage.to, OutboxMessage.resident_id, OutboxMessage.staff_id, Household.language
        )
        .outerjoin(Resident, OutboxMessage.resident_id == Resident.id)
        .outerjoin(Household, Resident.household_id == Household.id)
        .where(
            *mine,
            OutboxMessage.channel != "push",  # a push's all clear is `push_all_clear`'s
            OutboxMessage.status.in_((SENDING, SENT)),
            OutboxMessage.event_id < event_id,
        )
        .order_by(OutboxMessage.id)
    )
    return [
        Recipient(to=to, language=language or "zh", resident_id=rid, staff_id=sid)
        for to, rid, sid, language in rows
    ]
