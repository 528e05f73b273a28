"""The roll call's life: staff start one for a scope, every household in it is asked (socket,
push, SMS), the ones that have not answered by the deadline are phoned, answers come back from
the app, a push's button, a text or the call's keypad, and "need help" raises an alarm on the
usual path (`server.alarms.press`). Each function runs in the caller's transaction; the caller
commits (which publishes the events and wakes the outbox)."""

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select, update

from groups.models import Grid, Household, Resident
from notifier.models import OutboxMessage
from server import words
from server.accounts import Principal
from server.alarms import press, recipients
from server.alarms.models import AlertType, Audience, Channel, EventType
from server.alarms.store import lock
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.rollcall import events, texts
from server.rollcall.models import RollAnswer, RollCall, RollCallHousehold, Scope
from server.runtime.work import texts_queued
from storage import deferred
from storage.db import AsyncSession, table_of

STARTERS = frozenset({"patrol_leader", "police_office", "admin", "grid_manager"})
"""The staff roles that start and close roll calls (a grid manager: of their grid)."""
CALL_AFTER_SECONDS = 600
"""How long a household has to answer before it is phoned, unless the roll call says."""
TEXT_VALID_FOR = timedelta(hours=1)
"""A roll call's text or push not sent within this is not worth sending."""

_OUTBOX = table_of(OutboxMessage)
_HOUSEHOLDS = table_of(RollCallHousehold)

Outcome = Literal["answered", "repeated", "help_stands"]


def digest(token: str) -> str:
    """What is kept of a push's answer token."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scope(scope: str) -> tuple[Scope, str | None, int | None]:
    """`building:B11`, `grid:3` or `community` as (scope, building, grid id)."""
    kind, _, value = scope.strip().partition(":")
    if kind == Scope.COMMUNITY and not value:
        return Scope.COMMUNITY, None, None
    if kind == Scope.BUILDING and value.strip():
        return Scope.BUILDING, value.strip().upper(), None
    if kind == Scope.GRID and value.strip().isdigit():
        return Scope.GRID, None, int(value)
    raise Invalid("scope must be building:<name> (building:B11), grid:<id> or community")


def _starter(principal: Principal) -> None:
    if principal.kind != "staff" or principal.role not in STARTERS:
        raise Forbidden(
            "only the patrol leader, the police office, an admin or a grid manager "
            "starts or closes a roll call"
        )


def visible_to_staff(principal: Principal) -> None:
    """Staff only: a resident (even one who is a grid manager) reads no tally."""
    if principal.kind != "staff":
        raise Forbidden("a roll call's tally is for staff")


def visible(principal: Principal, rollcall: RollCall | None) -> RollCall:
    """The roll call if the principal's scope covers it: another community's is 404, a grid
    manager sees only their grid's."""
    visible_to_staff(principal)
    if rollcall is None or rollcall.community_id != principal.community_id:
        raise NotFound("no such roll call")
    grid = principal.grid_scope
    if grid is not None and rollcall.grid_id != grid:
        raise NotFound("no such roll call in your grid")
    return rollcall


async def get(session: AsyncSession, *, principal: Principal, rollcall_id: int) -> RollCall:
    """One roll call in the principal's scope."""
    return visible(principal, await session.get(RollCall, rollcall_id))


async def list_recent(
    session: AsyncSession, *, principal: Principal, limit: int = 20
) -> list[RollCall]:
    """The newest roll calls in the principal's scope, open ones first."""
    visible_to_staff(principal)
    query = select(RollCall).where(RollCall.community_id == principal.community_id)
    if principal.grid_scope is not None:
        query = query.where(RollCall.grid_id == principal.grid_scope)
    query = query.order_by(RollCall.closed_at.is_not(None), RollCall.id.desc()).limit(limit)
    return list(await session.scalars(query))


async def start(
    session: AsyncSession,
    *,
    principal: Principal,
    scope: str,
    note: str,
    now: datetime,
    call_after_seconds: int = CALL_AFTER_SECONDS,
) -> RollCall:
    """Start a roll call: store it and the households it asks, text each household's phones
    and push to its devices, and tell each asked group's sockets."""
    _starter(principal)
    kind, building, grid_id = parse_scope(scope)
    own_grid = principal.grid_scope
    if principal.role == "grid_manager":
        if own_grid is None:
            raise Forbidden("a grid manager without a grid cannot start a roll call")
        if kind == Scope.COMMUNITY:
            raise Forbidden("a grid manager starts a roll call for their grid or a building in it")
        if kind == Scope.GRID and grid_id != own_grid:
            raise NotFound("no such grid in your scope")
        grid_id = own_grid
    if kind == Scope.GRID:
        grid = await session.get(Grid, grid_id)
        if grid is None or grid.community_id != principal.community_id:
            raise NotFound("no grid {grid_id} in this community", grid_id=grid_id)
    wanted = [Household.community_id == principal.community_id]
    if building is not None:
        wanted.append(Household.building == building)
    if grid_id is not None:
        wanted.append(Household.grid_id == grid_id)
    households = list(
        await session.scalars(select(Household).where(*wanted).order_by(Household.id))
    )
    if not households:
        if building is not None and own_grid is not None:
            raise NotFound("no household in building {building} of your grid", building=building)
        if building is not None:
            raise NotFound("no household in building {building}", building=building)
        raise NotFound("no household in that scope")
    await lock(session, principal.community_id)
    rollcall = RollCall(
        community_id=principal.community_id,
        scope=kind,
        building=building,
        grid_id=grid_id,
        note=note.strip(),
        started_by=principal.name,
        started_by_staff_id=principal.staff_id,
        call_due_at=now + timedelta(seconds=call_after_seconds),
        created_at=now,
    )
    session.add(rollcall)
    await session.flush()
    tokens = {h.id: secrets.token_urlsafe(32) for h in households}
    deferred.add_all(
        session,
        _HOUSEHOLDS,
        [
            {
                "rollcall_id": rollcall.id,
                "household_id": h.id,
                "group_id": h.group_id,
                "address": h.address,
                "building": h.building,
                "unit": h.unit,
                "floor": h.floor,
                "room": h.room,
                "answer": None,
                "answered_at": None,
                "channel": None,
                "alert_id": None,
                "called": False,
                "token_hash": digest(tokens[h.id]),
            }
            for h in households
        ],
    )
    actor = f"staff:{principal.staff_id}"
    await events.record(
        session,
        community_id=rollcall.community_id,
        type=EventType.ROLLCALL_STARTED,
        audience=Audience.BOARD,
        actor=actor,
        now=now,
        data={**summary(rollcall), "households": len(households)},
    )
    by_group: dict[int, list[str]] = {}
    for h in households:
        if h.group_id is not None:
            by_group.setdefault(h.group_id, []).append(h.address)
    for group_id, addresses in sorted(by_group.items()):
        await events.record(
            session,
            community_id=rollcall.community_id,
            group_id=group_id,
            type=EventType.ROLLCALL_ASKED,
            audience=Audience.GROUP,
            actor=actor,
            now=now,
            data={**summary(rollcall), "households": addresses},
        )
    await _ask(session, rollcall=rollcall, households=households, tokens=tokens, now=now)
    return rollcall


def summary(rollcall: RollCall) -> dict[str, Any]:
    """What every event of a roll call says of it."""
    return {
        "rollcall_id": rollcall.id,
        "scope": scope_name(rollcall),
        "note": rollcall.note,
        "status": "open" if rollcall.is_open else "closed",
        "call_due_at": rollcall.call_due_at.isoformat().replace("+00:00", "Z"),
    }


def scope_name(rollcall: RollCall) -> str:
    """The roll call's scope as it was asked for: building:B11, grid:3, community."""
    if rollcall.scope == Scope.BUILDING:
        return f"building:{rollcall.building}"
    if rollcall.scope == Scope.GRID:
        return f"grid:{rollcall.grid_id}"
    return "community"


def _job(
    rollcall: RollCall, *, to: str, resident_id: int | None, channel: str, body: str, now: datetime
) -> dict[str, Any]:
    return {
        "community_id": rollcall.community_id,
        "alert_id": None,  # a job of no alarm is a roll call's (its call renders so)
        "event_id": None,
        "resident_id": resident_id,
        "staff_id": None,
        "to": to,
        "channel": channel,
        "body": body,
        "next_attempt_at": now,
        "expires_at": now + TEXT_VALID_FOR,
        "created_at": now,
    }


async def _phones(session: AsyncSession, household_ids: Sequence[int]) -> list[Any]:
    """(resident id, phone, household id, language) of the households' residents with a
    phone, in resident order."""
    rows = await session.execute(
        select(Resident.id, Resident.phone, Household.id, Household.language)
        .join(Household, Resident.household_id == Household.id)
        .where(Household.id.in_(list(household_ids)), Resident.phone.is_not(None))
        .order_by(Resident.id)
    )
    return list(rows)


async def _ask(
    session: AsyncSession,
    *,
    rollcall: RollCall,
    households: Sequence[Household],
    tokens: dict[int, str],
    now: datetime,
) -> None:
    """One text to each phone of the households, one push to each of their devices."""
    jobs, seen = [], set()
    for resident_id, phone, _household, language in await _phones(session, list(tokens)):
        if phone in seen:
            continue
        seen.add(phone)
        note = texts.note_or_default(rollcall.note, language)
        body = words.say("rollcall.sms", language=language, note=note)
        jobs.append(
            _job(rollcall, to=phone, resident_id=resident_id, channel="sms", body=body, now=now)
        )
    groups = sorted({h.group_id for h in households if h.group_id is not None})
    found = await recipients.devices(session, group_ids=groups, exclude_household=None, now=now)
    for subscription_id, _credential, household_id, language, resident_id in found:
        if household_id not in tokens:
            continue
        lang = texts.language_of(language)
        payload = {
            "type": "rollcall",
            "rollcall_id": rollcall.id,
            "tag": f"rollcall-{rollcall.id}",
            "title": words.say("rollcall.push.title", language=lang),
            "body": texts.note_or_default(rollcall.note, lang),
            "answer_token": tokens[household_id],
            "answer_url": "/api/rollcalls/push-answer",
            "actions": [
                {"action": "ok", "title": words.say("rollcall.push.ok", language=lang)},
                {"action": "help", "title": words.say("rollcall.push.help", language=lang)},
            ],
            "url": "/app",
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        jobs.append(
            _job(
                rollcall,
                to=str(subscription_id),
                resident_id=resident_id,
                channel="push",
                body=body,
                now=now,
            )
        )
    if jobs:
        deferred.add_all(session, _OUTBOX, jobs)
        texts_queued(session, len(jobs))


async def close(
    session: AsyncSession, *, principal: Principal, rollcall_id: int, now: datetime
) -> RollCall:
    """Close a roll call: it takes no more answers and phones nobody more."""
    _starter(principal)
    rollcall = await get(session, principal=principal, rollcall_id=rollcall_id)
    if not rollcall.is_open:
        raise Conflict("roll call {rollcall_id} is already closed", rollcall_id=rollcall.id)
    await lock(session, rollcall.community_id)
    rollcall.closed_at, rollcall.closed_by = now, principal.name
    await events.record(
        session,
        community_id=rollcall.community_id,
        type=EventType.ROLLCALL_CLOSED,
        audience=Audience.BOARD,
        actor=f"staff:{principal.staff_id}",
        now=now,
        data={**summary(rollcall), "tally": await tally(session, rollcall_id=rollcall.id)},
    )
    return rollcall


# -- what the households answered ---------------------------------------------------------


async def households(session: AsyncSession, *, rollcall_id: int) -> list[RollCallHousehold]:
    """The households a roll call asks, in address order (building, unit, floor, room)."""
    found = await session.scalars(
        select(RollCallHousehold).where(RollCallHousehold.rollcall_id == rollcall_id)
    )
    return sorted(found, key=place)


def place(row: RollCallHousehold) -> tuple[int, str, int, int, int, int]:
    """A household's natural place: B2 before B11, then unit, floor, room."""
    letters = row.building.rstrip("0123456789")
    digits = row.building[len(letters) :]
    return (0, letters, int(digits or 0), row.unit, row.floor, row.room)


async def tally(session: AsyncSession, *, rollcall_id: int) -> dict[str, int]:
    """How many households answered OK, need help, or not yet."""
    rows = await session.execute(
        select(RollCallHousehold.answer, func.count())
        .where(RollCallHousehold.rollcall_id == rollcall_id)
        .group_by(RollCallHousehold.answer)
    )
    counts: dict[RollAnswer | None, int] = {}
    for answer, n in rows:
        counts[answer] = n
    return {
        "ok": counts.get(RollAnswer.OK, 0),
        "help": counts.get(RollAnswer.HELP, 0),
        "no_answer": counts.get(None, 0),
        "households": sum(counts.values()),
    }


def knock_list(rows: Sequence[RollCallHousehold]) -> list[dict[str, Any]]:
    """The households that have not answered, by building → unit → floor: the door-knocking
    list."""
    buildings: dict[str, dict[int, dict[int, list[str]]]] = {}
    for row in sorted(rows, key=place):
        if row.answer is None:
            floors = buildings.setdefault(row.building, {}).setdefault(row.unit, {})
            floors.setdefault(row.floor, []).append(row.address)
    return [
        {
            "building": building,
            "units": [
                {
                    "unit": unit,
                    "floors": [{"floor": f, "households": a} for f, a in sorted(floors.items())],
                }
                for unit, floors in sorted(units.items())
            ],
        }
        for building, units in buildings.items()
    ]


async def open_for_household(
    session: AsyncSession, *, household_id: int
) -> list[tuple[RollCall, RollCallHousehold]]:
    """The open roll calls asking a household, newest first."""
    rows = await session.execute(
        select(RollCall, RollCallHousehold)
        .join(RollCallHousehold, RollCallHousehold.rollcall_id == RollCall.id)
        .where(RollCallHousehold.household_id == household_id, RollCall.closed_at.is_(None))
        .order_by(RollCall.id.desc())
    )
    return [(rollcall, row) for rollcall, row in rows]


@dataclass(frozen=True, slots=True)
class Answered:
    """What an answer did: recorded, a repeat, or an OK after "need help" (the help stands);
    the alarm a "need help" raised."""

    outcome: Outcome
    answer: RollAnswer
    address: str
    alert_id: int | None = None


async def answer(
    session: AsyncSession,
    *,
    principal: Principal,
    answer: RollAnswer,
    channel: str,
    now: datetime,
    rollcall_id: int | None = None,
) -> Answered:
    """A resident answers for their household: the one roll call named, or every open one
    asking it (a text or a call answers them all: they ask the same thing). "Need help" raises
    the household's help alarm (or joins its open one) on the usual path; once a household
    asked for help, a later OK does not take it back (the alarm is the patrol's to close)."""
    if principal.kind != "resident" or principal.household_id is None:
        raise Forbidden("only a resident answers a roll call, for their own household")
    await lock(session, principal.community_id)
    asked = await open_for_household(session, household_id=principal.household_id)
    if rollcall_id is not None:
        asked = [(r, row) for r, row in asked if r.id == rollcall_id]
        if not asked:
            known = await session.get(RollCallHousehold, (rollcall_id, principal.household_id))
            if known is None:
                raise NotFound("no such roll call asking your household")
            raise Conflict("roll call {rollcall_id} is closed", rollcall_id=rollcall_id)
    if not asked:
        raise NotFound("no open roll call asks your household")
    outcomes: list[Outcome] = []
    alert_id: int | None = None
    for rollcall, row in asked:
        if row.answer == RollAnswer.HELP and answer == RollAnswer.OK:
            outcomes.append("help_stands")
            alert_id = alert_id or row.alert_id
            continue
        if row.answer == answer:
            outcomes.append("repeated")
            alert_id = alert_id or row.alert_id
            continue
        if answer == RollAnswer.HELP and alert_id is None:
            change = await press.create(
                session,
                principal=principal,
                alert_type=AlertType.HELP,
                source=Channel.ROLLCALL,
                now=now,
            )
            alert_id = change.alert.id
        await session.execute(
            update(RollCallHousehold)
            .where(
                RollCallHousehold.rollcall_id == rollcall.id,
                RollCallHousehold.household_id == row.household_id,
            )
            .values(
                answer=answer,
                answered_at=now,
                channel=channel,
                alert_id=alert_id if answer == RollAnswer.HELP else None,
            )
            .execution_options(synchronize_session=False)
        )
        await events.record(
            session,
            community_id=rollcall.community_id,
            group_id=row.group_id,
            type=EventType.ROLLCALL_ANSWERED,
            audience=Audience.ALL,
            actor=f"resident:{principal.resident_id}",
            channel=_event_channel(channel),
            now=now,
            data={
                **summary(rollcall),
                "household": row.address,
                "answer": answer,
                "via": channel,
                "alert_id": alert_id if answer == RollAnswer.HELP else None,
                "tally": await tally(session, rollcall_id=rollcall.id),
            },
        )
        outcomes.append("answered")
    outcome: Outcome = (
        "answered"
        if "answered" in outcomes
        else "help_stands"
        if "help_stands" in outcomes
        else "repeated"
    )
    return Answered(
        outcome=outcome, answer=answer, address=principal.address or "?", alert_id=alert_id
    )


def _event_channel(channel: str) -> Channel:
    return {"sms": Channel.SMS, "voice": Channel.VOICE}.get(channel, Channel.APP)


async def household_of_token(
    session: AsyncSession, *, token: str
) -> tuple[RollCall, RollCallHousehold]:
    """The roll call and household a push's answer token speaks for (while it is open)."""
    found = (
        await session.execute(
            select(RollCall, RollCallHousehold)
            .join(RollCallHousehold, RollCallHousehold.rollcall_id == RollCall.id)
            .where(RollCallHousehold.token_hash == digest(token))
        )
    ).one_or_none()
    if found is None or not found[0].is_open:
        raise Forbidden("this notification can no longer answer; open the app to answer")
    return found[0], found[1]


async def first_resident(session: AsyncSession, *, household_id: int) -> int | None:
    """The household's first resident (who a push's answer is recorded as)."""
    return await session.scalar(
        select(func.min(Resident.id)).where(Resident.household_id == household_id)
    )


# -- the call-out at the deadline ---------------------------------------------------------


async def call_out(session: AsyncSession, *, rollcall: RollCall, now: datetime) -> int:
    """Phone each household that has not answered (its first resident with a phone): a call
    that says the note and takes 1 (OK) or 2 (need help). Once; returns how many calls."""
    rollcall.called_at = now
    unanswered = [
        row for row in await households(session, rollcall_id=rollcall.id) if row.answer is None
    ]
    first: dict[int, tuple[int, str, str]] = {}
    for resident_id, phone, household_id, language in await _phones(
        session, [row.household_id for row in unanswered]
    ):
        first.setdefault(household_id, (resident_id, phone, language))
    jobs, phoned = [], []
    for row in unanswered:
        if row.household_id not in first:
            continue  # no phone to call: it stays on the knock list
        phoned.append(row.household_id)
        resident_id, phone, language = first[row.household_id]
        note = texts.note_or_default(rollcall.note, language)
        body = words.say("rollcall.voice", language=language, note=note)
        jobs.append(
            _job(rollcall, to=phone, resident_id=resident_id, channel="voice", body=body, now=now)
        )
    if phoned:
        await session.execute(
            update(RollCallHousehold)
            .where(
                RollCallHousehold.rollcall_id == rollcall.id,
                RollCallHousehold.household_id.in_(phoned),
            )
            .values(called=True)
            .execution_options(synchronize_session=False)
        )
    if jobs:
        deferred.add_all(session, _OUTBOX, jobs)
        texts_queued(session, len(jobs))
    await events.record(
        session,
        community_id=rollcall.community_id,
        type=EventType.ROLLCALL_CALLED,
        audience=Audience.BOARD,
        actor="system",
        now=now,
        data={**summary(rollcall), "called": len(jobs), "unanswered": len(unanswered)},
    )
    return len(jobs)


async def due(session: AsyncSession, *, now: datetime) -> list[tuple[int, int]]:
    """(community id, roll call id) of open roll calls whose call-out is due."""
    rows = await session.execute(
        select(RollCall.community_id, RollCall.id).where(
            RollCall.closed_at.is_(None),
            RollCall.called_at.is_(None),
            RollCall.call_due_at <= now,
        )
    )
    return [(community_id, rollcall_id) for community_id, rollcall_id in rows]
