"""The alarm's life after the press: neighbours answer, the patrol takes it, goes on scene and
resolves it, or the raiser cancels it (under duress, only seemingly). Every step is validated
against the alarm's state and stored as an event; the caller commits, which publishes it."""

from datetime import datetime, timedelta
from enum import StrEnum

from groups import audit, pins
from groups.models import PATROL_ROLES
from server.accounts import Principal
from server.alarms import escalation, recipients, sounders, store, transitions
from server.alarms.change import Cancelled, Change, Escalated
from server.alarms.models import (
    Alert,
    Answer,
    Audience,
    Channel,
    Deadline,
    EventType,
    Outcome,
    Status,
)
from server.alarms.policy import Locked
from server.alarms.transitions import Action
from server.errors import Conflict, Forbidden, Invalid, NotFound
from storage.db import AsyncSession


def _actor(principal: Principal) -> str:
    if principal.kind == "resident":
        return f"resident:{principal.resident_id}"
    return f"staff:{principal.staff_id}"


async def _load(
    session: AsyncSession, *, principal: Principal, alert_id: int
) -> tuple[Locked, Alert]:
    locked = await store.lock(session, principal.community_id)
    alert = await store.alarm(session, alert_id=alert_id)
    if alert is None or alert.community_id != principal.community_id:
        raise NotFound("no alarm {alert_id} in your scope", alert_id=alert_id)
    outside = principal.kind == "resident" and alert.group_id != principal.group_id
    if outside and not await store.widened_to(
        session, alert_id=alert.id, group_id=principal.group_id
    ):
        raise NotFound("no alarm {alert_id} in your scope", alert_id=alert_id)
    if principal.grid_scope is not None and alert.grid_id != principal.grid_scope:
        raise NotFound("no alarm {alert_id} in your grid", alert_id=alert_id)
    return locked, alert


# The refusals below are written out whole for each case (not "{action}" filled with an English
# verb) so that each has its own sentence in the wording catalogue (server/words/errors.json).
_STAFF_ONLY: dict[str, str] = {
    "take an alarm": "only the patrol, the grid manager or the police office can take an alarm",
    "mark an alarm on scene": (
        "only the patrol, the grid manager or the police office can mark an alarm on scene"
    ),
    "escalate an alarm": (
        "only the patrol, the grid manager or the police office can escalate an alarm"
    ),
    "resolve an alarm": (
        "only the patrol, the grid manager or the police office can resolve an alarm"
    ),
    "write a note on an alarm": (
        "only the patrol, the grid manager or the police office can write a note on an alarm"
    ),
    "reassign an alarm": (
        "only the patrol, the grid manager or the police office can reassign an alarm"
    ),
}
_CLOSED: dict[tuple[Status, str], str] = {
    (Status.RESOLVED, "taken"): "alarm {alert_id} is resolved; it can't be taken",
    (Status.RESOLVED, "marked on scene"): (
        "alarm {alert_id} is resolved; it can't be marked on scene"
    ),
    (Status.RESOLVED, "escalated"): "alarm {alert_id} is resolved; it can't be escalated",
    (Status.RESOLVED, "resolved"): "alarm {alert_id} is resolved; it can't be resolved",
    (Status.RESOLVED, "cancelled"): "alarm {alert_id} is resolved; it can't be cancelled",
    (Status.CANCELLED, "taken"): "alarm {alert_id} is cancelled; it can't be taken",
    (Status.CANCELLED, "marked on scene"): (
        "alarm {alert_id} is cancelled; it can't be marked on scene"
    ),
    (Status.CANCELLED, "escalated"): "alarm {alert_id} is cancelled; it can't be escalated",
    (Status.CANCELLED, "resolved"): "alarm {alert_id} is cancelled; it can't be resolved",
    (Status.CANCELLED, "cancelled"): "alarm {alert_id} is cancelled; it can't be cancelled",
    (Status.RESOLVED, "reassigned"): "alarm {alert_id} is resolved; it can't be reassigned",
    (Status.CANCELLED, "reassigned"): "alarm {alert_id} is cancelled; it can't be reassigned",
}
_NO_MORE_ANSWERS: dict[Status, str] = {
    Status.RESOLVED: "alarm {alert_id} is resolved; it takes no more answers",
    Status.CANCELLED: "alarm {alert_id} is cancelled; it takes no more answers",
}


def _staff_only(principal: Principal, action: str) -> None:
    if principal.kind != "staff":
        raise Forbidden(_STAFF_ONLY[action])


def _closed(alert: Alert, action: str) -> Conflict:
    template = _CLOSED.get(
        (alert.status, action), "alarm {alert_id} is {status}; it can't be {action}"
    )
    return Conflict(template, alert_id=alert.id, status=alert.status, action=action)


def _to(alert: Alert, action: Action, refused: str) -> Status:
    """The status the action leads the alarm to; Conflict ("it can't be {refused}") if its
    status does not allow it."""
    status = transitions.after(alert.status, action)
    if status is None:
        raise _closed(alert, refused)
    return status


async def respond(
    session: AsyncSession,
    *,
    principal: Principal,
    alert_id: int,
    answer: Answer,
    now: datetime,
    channel: Channel = Channel.APP,
) -> Change[Answer]:
    """A neighbour household answers: coming, can't, or called 110 (a later answer replaces)."""
    if principal.kind != "resident" or principal.household_id is None:
        raise Forbidden("only a neighbour household can answer an alarm")
    if answer not in tuple(Answer):
        raise Invalid("answer coming, cant or called_110")
    _, alert = await _load(session, principal=principal, alert_id=alert_id)
    if alert.household_id == principal.household_id:
        raise Forbidden("this is your own household's alarm")
    if not transitions.allows(alert.status, Action.ANSWER) or alert.masked:
        status = Status.CANCELLED if alert.masked else alert.status
        template = _NO_MORE_ANSWERS.get(
            status, "alarm {alert_id} is {status}; it takes no more answers"
        )
        raise Conflict(template, alert_id=alert.id, status=status)
    alert.coming = await store.answer(
        session,
        alert=alert,
        household_id=principal.household_id,
        resident_id=principal.resident_id,
        answer=Answer(answer),
        channel=channel,
        now=now,
    )
    alert.updated_at = now
    change = Change(alert, outcome=Answer(answer))
    await store.record(
        session,
        change,
        type=EventType.RESPONSE,
        actor=_actor(principal),
        channel=channel,
        now=now,
        data={
            "responder": principal.address,
            "name": principal.name,
            "answer": answer,
            "coming": alert.coming,
            "neighbours": alert.neighbours,
        },
    )
    return change


async def answerable(session: AsyncSession, *, principal: Principal) -> Alert | None:
    """The newest open alarm a resident can answer (of its group, or widened to it)."""
    if principal.kind != "resident" or principal.group_id is None:
        return None
    return await store.answerable(
        session, group_id=principal.group_id, household_id=principal.household_id
    )


async def take(
    session: AsyncSession, *, principal: Principal, alert_id: int, now: datetime
) -> Change[Status]:
    """A patrol member takes (acknowledges) an open alarm; escalation stops. One taker wins."""
    _staff_only(principal, "take an alarm")
    _, alert = await _load(session, principal=principal, alert_id=alert_id)
    if alert.is_open and not transitions.allows(alert.status, Action.TAKE):
        taker = await store.taker(session, alert=alert)
        if not taker:
            raise Conflict("alarm {alert_id} was already taken by someone", alert_id=alert.id)
        raise Conflict(
            "alarm {alert_id} was already taken by {taker}", alert_id=alert.id, taker=taker
        )
    alert.status = _to(alert, Action.TAKE, "taken")
    alert.taken_by_staff_id, alert.taken_at = principal.staff_id, now
    alert.updated_at = now
    await store.settle(session, alert_id=alert.id, now=now)
    change = Change(alert, outcome=alert.status)
    await store.record(
        session,
        change,
        type=EventType.ACKNOWLEDGED,
        actor=_actor(principal),
        channel=Channel.APP,
        now=now,
        data={"taken_by": principal.name},
    )
    return change


async def arrive(
    session: AsyncSession, *, principal: Principal, alert_id: int, now: datetime
) -> Change[Status]:
    """A patrol member is on scene (taking the alarm if nobody had)."""
    _staff_only(principal, "mark an alarm on scene")
    _, alert = await _load(session, principal=principal, alert_id=alert_id)
    if alert.status == Status.ON_SCENE:
        raise Conflict("alarm {alert_id} is already on scene", alert_id=alert.id)
    status = _to(alert, Action.ON_SCENE, "marked on scene")
    if transitions.allows(alert.status, Action.TAKE):  # nobody had taken it: this member does
        alert.taken_by_staff_id, alert.taken_at = principal.staff_id, now
        await store.settle(session, alert_id=alert.id, now=now)
    alert.status, alert.on_scene_at, alert.updated_at = status, now, now
    change = Change(alert, outcome=status)
    await store.record(
        session,
        change,
        type=EventType.ON_SCENE,
        actor=_actor(principal),
        channel=Channel.APP,
        now=now,
        data={"by": principal.name},
    )
    return change


async def escalate(
    session: AsyncSession, *, principal: Principal, alert_id: int, now: datetime
) -> Change[Escalated]:
    """A patrol member calls in the police office (not for a drill, not once it is closed)."""
    _staff_only(principal, "escalate an alarm")
    _, alert = await _load(session, principal=principal, alert_id=alert_id)
    _to(alert, Action.ESCALATE, "escalated")
    if alert.drill:
        raise Conflict(
            "alarm {alert_id} is a drill; a drill never reaches the police office",
            alert_id=alert.id,
        )
    alert.updated_at = now
    police = await recipients.police_office(session, community_id=alert.community_id)
    change = Change(alert, outcome=Escalated.ESCALATED)
    event_id = await store.record(
        session,
        change,
        type=EventType.ESCALATED,
        actor=_actor(principal),
        channel=Channel.APP,
        now=now,
        data={"level": "police", "reason": "manual", "by": principal.name, "police": True},
    )
    change.texts += await recipients.tell(
        session, alert=alert, kind="police", event_id=event_id, recipients=police, now=now
    )
    return change


class Noted(StrEnum):
    """What writing a note did."""

    NOTED = "noted"


async def note(
    session: AsyncSession, *, principal: Principal, alert_id: int, text: str, now: datetime
) -> Change["Noted"]:
    """A staff member writes a note on an alarm, open or closed; the board alone reads it."""
    _staff_only(principal, "write a note on an alarm")
    text = text.strip()
    if not text:
        raise Invalid("write the note's text")
    _, alert = await _load(session, principal=principal, alert_id=alert_id)
    change = Change(alert, outcome=Noted.NOTED)
    await store.record(
        session,
        change,
        type=EventType.NOTE,
        actor=_actor(principal),
        channel=Channel.APP,
        now=now,
        audience=Audience.BOARD,
        data={"note": text, "by": principal.name},
    )
    return change


async def reassign(
    session: AsyncSession, *, principal: Principal, alert_id: int, staff_id: int, now: datetime
) -> Change[Status]:
    """Give an open alarm to another patrol member (taking it for them if nobody had): the
    board hears it, and the audit log keeps who moved it from whom to whom."""
    _staff_only(principal, "reassign an alarm")
    _, alert = await _load(session, principal=principal, alert_id=alert_id)
    member = await store.staff_member(
        session, community_id=principal.community_id, staff_id=staff_id
    )
    if member is None or member.role not in PATROL_ROLES:
        raise Invalid(
            "staff {staff_id} is not a patrol member of this community", staff_id=staff_id
        )
    if not alert.is_open:
        raise _closed(alert, "reassigned")
    if alert.taken_by_staff_id == member.id:
        raise Conflict(
            "alarm {alert_id} is already with {name}", alert_id=alert.id, name=member.name
        )
    before = await store.taker(session, alert=alert)
    untaken = transitions.allows(alert.status, Action.TAKE)
    if untaken:
        alert.status = _to(alert, Action.TAKE, "taken")
        await store.settle(session, alert_id=alert.id, now=now)
    alert.taken_by_staff_id, alert.taken_at, alert.updated_at = member.id, now, now
    change = Change(alert, outcome=alert.status)
    await store.record(
        session,
        change,
        type=EventType.ACKNOWLEDGED,
        actor=_actor(principal),
        channel=Channel.APP,
        now=now,  # the group hears that the patrol took it; a change of hands is the board's
        audience=Audience.ALL if untaken else Audience.BOARD,
        data={
            "taken_by": member.name,
            "taken_by_staff_id": member.id,
            "reassigned": True,
            "from": before,
            "by": principal.name,
        },
    )
    audit.record(
        session,
        community_id=alert.community_id,
        actor=audit.Actor(name=principal.name, kind="staff", id=principal.staff_id),
        action="reassigned",
        subject=f"alarm {alert.id}",
        before=before,
        after=member.name,
        at=now,
    )
    return change


async def resolve(
    session: AsyncSession,
    *,
    principal: Principal,
    alert_id: int,
    outcome: Outcome,
    note: str | None,
    now: datetime,
) -> Change[Status]:
    """Close an alarm with an outcome and a note; everyone alerted is told all clear."""
    _staff_only(principal, "resolve an alarm")
    if outcome not in tuple(Outcome):
        raise Invalid(
            "unknown outcome {outcome!r}; use one of {choices}",
            outcome=outcome,
            choices=", ".join(Outcome),
        )
    _, alert = await _load(session, principal=principal, alert_id=alert_id)
    status = _to(alert, Action.RESOLVE, "resolved")
    residents_told = not alert.masked
    alert.status, alert.outcome, alert.note = status, Outcome(outcome), note
    alert.closed_at = alert.updated_at = now
    if alert.taken_by_staff_id is None:
        alert.taken_by_staff_id, alert.taken_at = principal.staff_id, now
    await store.settle(session, alert_id=alert.id, now=now)
    change = Change(alert, outcome=status)
    event_id = await store.record(
        session,
        change,
        type=EventType.RESOLVED,
        actor=_actor(principal),
        channel=Channel.APP,
        now=now,
        data={"outcome": outcome, "by": principal.name},
    )
    if note:  # what the patrol writes down stays with the patrol
        await store.record(
            session,
            change,
            type=EventType.NOTE,
            actor=_actor(principal),
            channel=Channel.APP,
            now=now,
            audience=Audience.BOARD,
            data={"note": note, "by": principal.name},
        )
    change.texts += await all_clear(
        session,
        alert=alert,
        event_id=event_id,
        outcome=outcome,
        now=now,
        residents=residents_told,
        staff=True,
    )
    return change


async def cancel(
    session: AsyncSession, *, principal: Principal, alert_id: int, pin: str, now: datetime
) -> Change[Cancelled]:
    """The raiser cancels with the household PIN inside the cancel window (a false alarm). The
    duress PIN answers exactly the same, but keeps the alarm open for the patrol and the police.
    Outcome: cancelled; too_late once the window has closed; wrong_pin (the attempt is counted
    and shown on the board, then refused; after MAX_PIN_FAILURES the alarm takes no more)."""
    if principal.kind != "resident":
        raise Forbidden("only the household that raised the alarm can cancel it")
    locked, alert = await _load(session, principal=principal, alert_id=alert_id)
    if alert.household_id != principal.household_id:
        raise Forbidden("only the household that raised the alarm can cancel it")
    household = await store.household(session, household_id=alert.household_id)
    assert household is not None
    if household.pin_hash is None:
        raise Conflict("this household has no PIN yet; set one, or ask the patrol to close it")
    if alert.pin_failures >= MAX_PIN_FAILURES:
        raise Conflict("too many wrong PINs for this alarm; the patrol will close it")
    real, duress = await pins.check(pin, household.pin_hash, household.duress_pin_hash)
    if not (real or duress):
        alert.pin_failures += 1
        change = Change(alert, outcome=Cancelled.WRONG_PIN, refusal=Forbidden("wrong PIN"))
        await store.record(
            session,
            change,
            type=EventType.PIN_FAILED,
            actor=_actor(principal),
            channel=Channel.APP,
            now=now,
            audience=Audience.BOARD,
            data={"failures": alert.pin_failures},
        )
        return change
    if not transitions.allows(alert.status, Action.CANCEL) or alert.masked:
        raise Conflict("alarm {alert_id} is already closed", alert_id=alert.id)
    late = now - alert.created_at > timedelta(seconds=locked.policy.cancel_seconds)
    if duress and not alert.duress:
        change = await _under_duress(
            session, locked=locked, alert=alert, actor=_actor(principal), now=now, shown=not late
        )
    elif late or duress:
        raise window_closed(locked.policy.cancel_seconds)
    else:
        alert.status = _to(alert, Action.CANCEL, "cancelled")
        alert.outcome = Outcome.FALSE_ALARM
        alert.closed_at = alert.updated_at = now
        await store.settle(session, alert_id=alert.id, now=now)
        change = Change(alert, outcome=Cancelled.CANCELLED)
        event_id = await store.record(
            session,
            change,
            type=EventType.CANCELLED,
            actor=_actor(principal),
            channel=Channel.APP,
            now=now,
        )
        change.texts += await all_clear(
            session, alert=alert, event_id=event_id, outcome="cancelled", now=now
        )
    if late:
        change.outcome = Cancelled.TOO_LATE
        change.refusal = window_closed(locked.policy.cancel_seconds)
    return change


MAX_PIN_FAILURES = 5


def window_closed(seconds: int) -> Conflict:
    """What a raiser is told once the cancel window has closed."""
    return Conflict(
        "the cancel window ({seconds} s) has closed; the patrol will close this alarm",
        seconds=seconds,
    )


async def _under_duress(
    session: AsyncSession,
    *,
    locked: Locked,
    alert: Alert,
    actor: str,
    now: datetime,
    shown: bool,
) -> Change[Cancelled]:
    """The group is shown what a cancel looks like (when it would have been one: inside the
    window; outside it the alarm goes on looking open to them, as it would), frozen at this
    moment; the board alone sees duress (the raiser's own phone may be in the attacker's hand,
    in or out of the window), and the patrol and the police office are alerted at once."""
    _to(alert, Action.DURESS, "cancelled")
    change = Change(alert, outcome=Cancelled.CANCELLED)
    if shown:
        event_id = await store.record(
            session,
            change,
            type=EventType.CANCELLED,
            actor=actor,
            channel=Channel.APP,
            now=now,
            audience=Audience.GROUP,
            data={"status": Status.CANCELLED},
        )
        change.texts += await all_clear(  # no push: a duress alarm pushes nothing to the group
            session,
            alert=alert,
            event_id=event_id,
            outcome="cancelled",
            now=now,
            staff=False,
            push=False,
        )
    alert.duress, alert.masked = True, shown
    alert.updated_at = now
    if shown:
        alert.shown_cancelled_at = now
    await store.settle(session, alert_id=alert.id, now=now, kinds=(Deadline.QUORUM,))
    await store.record(
        session,
        change,
        type=EventType.DURESS,
        actor="system",
        channel=Channel.APP,
        now=now,
        audience=Audience.BOARD,
        data={"duress": True},
    )
    await escalation.to_patrol(
        session, change, locked=locked, alert=alert, now=now, reason="duress"
    )
    return change


async def all_clear(
    session: AsyncSession,
    *,
    alert: Alert,
    event_id: int,
    outcome: str,
    now: datetime,
    residents: bool = True,
    staff: bool = True,
    push: bool = True,
) -> int:
    """Withdraw the alarm's texts and pushes not yet sent, and text all clear to everyone
    already texted about it (residents, staff, or both), and push it to every resident's device
    already pushed to (unless `push` is False); returns how many texts are queued."""
    people = await recipients.withdraw_and_find_texted(
        session, alert_id=alert.id, event_id=event_id, residents=residents, staff=staff
    )
    if push and residents:
        await recipients.push_all_clear(
            session, alert=alert, event_id=event_id, outcome=outcome, now=now
        )
    await sounders.silence(session, alert=alert, event_id=event_id, now=now)  # sirens off
    return await recipients.tell(
        session,
        alert=alert,
        kind="all_clear",
        event_id=event_id,
        recipients=people,
        now=now,
        outcome=outcome,
    )
