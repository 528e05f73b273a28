"""Raising an alarm: a press becomes a stored alarm (or joins the household's open one), its
event, its SMS jobs and its deadlines — all in one transaction the caller commits."""

from datetime import datetime, timedelta

from server.accounts import Principal
from server.alarms import escalation, recipients, store, texts
from server.alarms.change import Change, Pressed
from server.alarms.models import Alert, AlertType, Audience, Channel, EventType
from server.alarms.policy import Locked
from server.errors import Forbidden, Invalid
from storage.db import AsyncSession


async def create(
    session: AsyncSession,
    *,
    principal: Principal,
    alert_type: AlertType,
    now: datetime,
    address: str | None = None,
    source: Channel = Channel.APP,
    idempotency_key: str | None = None,
    drill_label: str | None = None,
) -> Change[Pressed]:
    """Press help for the principal's own household. A repeat of a keyed press returns its alarm;
    a press while the household's alarm is open joins it; a second household of the group within
    the confirm window makes a confirmed incident. Outcome: raised, merged or repeated."""
    if alert_type not in tuple(AlertType):
        raise Invalid(
            "unknown alert type {alert_type!r}; use one of {choices}",
            alert_type=alert_type,
            choices=", ".join(AlertType),
        )
    if principal.kind != "resident" or principal.household_id is None:
        raise Forbidden("only a resident can raise an alarm for their household")
    if address is not None and address != principal.address:
        raise Forbidden("a resident can raise an alarm only for their own household")
    assert principal.resident_id is not None

    locked, open_alerts = await store.lock_for_press(
        session,
        community_id=principal.community_id,
        group_id=principal.group_id,
        household_id=principal.household_id,
        drill=drill_label is not None,
    )
    if idempotency_key is not None:
        known = await store.repeated(
            session, resident_id=principal.resident_id, key=idempotency_key
        )
        if known is not None:
            return Change(known, outcome=Pressed.REPEATED)

    own = next((a for a in open_alerts if a.household_id == principal.household_id), None)
    if own is not None:
        change = await _merge(
            session,
            alert=own,
            actor=f"resident:{principal.resident_id}",
            by=principal.name,
            source=source,
            now=now,
        )
    else:
        window = timedelta(seconds=locked.policy.confirm_seconds)
        first = next((a for a in open_alerts if now - a.created_at <= window), None)
        change, patrol = await _raise(
            session,
            locked=locked,
            principal=principal,
            alert_type=alert_type,
            source=source,
            now=now,
            drill_label=drill_label,
            confirms=first,
        )
        if first is not None:
            await _confirm(session, change, locked=locked, first=first, now=now, patrol=patrol)
    if idempotency_key is not None:
        store.remember(
            session,
            resident_id=principal.resident_id,
            key=idempotency_key,
            alert=change.alert,
            now=now,
        )
    return change


async def _raise(
    session: AsyncSession,
    *,
    locked: Locked,
    principal: Principal,
    alert_type: AlertType,
    source: Channel,
    now: datetime,
    drill_label: str | None,
    confirms: Alert | None,
) -> tuple[Change[Pressed], list[recipients.Recipient]]:
    alert = Alert(
        community_id=principal.community_id,
        group_id=principal.group_id,
        household_id=principal.household_id,
        grid_id=principal.grid_id,
        raised_by_resident_id=principal.resident_id,
        address=principal.address,
        type=alert_type,
        source=source,
        drill=drill_label is not None,
        drill_label=drill_label,
        confirmed=confirms is not None,
        linked_alert_id=confirms.id if confirms is not None else None,
        created_at=now,
        updated_at=now,
    )
    neighbours, alert.neighbours = (
        await recipients.neighbours(
            session, group_ids=[principal.group_id], exclude_household=principal.household_id
        )
        if principal.group_id is not None
        else ([], 0)
    )
    await store.insert_alarm(session, alert)
    households = alert.neighbours
    change = Change(alert, outcome=Pressed.RAISED)
    assert principal.household_id is not None
    realert_of = await store.cancelled_lately(
        session, household_id=principal.household_id, drill=alert.drill, now=now
    )
    event_id = await store.record(
        session,
        change,
        type=EventType.RAISED,
        actor=f"resident:{principal.resident_id}",
        channel=source,
        now=now,
        data={
            "raised_by": principal.name,
            "group": principal.group_name,
            "neighbours": households,
            **({"realert_of": realert_of} if realert_of is not None else {}),
        },
    )

    def alarm_text(r: recipients.Recipient) -> str:
        kind: texts.Kind = "alarm" if r.resident_id is not None else "patrol"
        return texts.body(
            kind,
            language=r.language,
            address=alert.address or "?",
            name=principal.name if kind == "alarm" else None,  # neighbours know who it is
            alert_type=alert_type,
            drill=alert.drill,
        )

    patrol = await recipients.patrol(session, alert=alert, at=now, timezone=locked.timezone)
    if realert_of is None:  # else everyone was texted moments ago, and told all clear
        change.texts = await recipients.queue(
            session,
            alert=alert,
            event_id=event_id,
            recipients=[*neighbours, *patrol],
            text=alarm_text,
            now=now,
        )
        await recipients.push_alarm(
            session, alert=alert, event_id=event_id, raised_by=principal.name, now=now
        )
    await store.schedule(session, alert=alert, due=escalation.first_deadlines(alert, locked, now))
    return change, patrol


async def _merge(
    session: AsyncSession, *, alert: Alert, actor: str, by: str, source: Channel, now: datetime
) -> Change[Pressed]:
    """A repeated press (or call, or text) joins the open alarm: counted, shown, texted to
    nobody."""
    await store.change_alarm(session, alert, presses=alert.presses + 1, updated_at=now)
    change = Change(alert, outcome=Pressed.MERGED)
    await store.record(
        session,
        change,
        type=EventType.PRESSED,
        actor=actor,
        channel=source,
        now=now,
        data={"presses": alert.presses, "by": by},
    )
    return change


async def _confirm(
    session: AsyncSession,
    change: Change[Pressed],
    *,
    locked: Locked,
    first: Alert,
    now: datetime,
    patrol: list[recipients.Recipient],
) -> None:
    """A second household of the group pressed (its alarm raised as confirmed, linked to the
    first): both alarms are one confirmed incident, which goes straight to the (already looked
    up) patrol."""
    alert = change.alert
    await store.change_alarm(session, first, confirmed=True, updated_at=now)
    await store.record(
        session,
        change,
        alert=first,
        type=EventType.CONFIRMED,
        actor="system",
        channel=Channel.SYSTEM,
        now=now,
        data={"by_household": alert.address, "linked_alert_id": alert.id},
    )
    await escalation.to_patrol(
        session, change, locked=locked, alert=alert, now=now, reason="confirmed", patrol=patrol
    )


async def start_drill(
    session: AsyncSession,
    *,
    principal: Principal,
    label: str,
    alert_type: AlertType,
    now: datetime,
    household: Principal | None = None,
) -> Change[Pressed]:
    """Start a labelled drill: a group leader for its own household, an admin for any household
    (given as the principal of one of its residents)."""
    if principal.kind == "staff":
        if principal.role != "admin":
            raise Forbidden("only an admin or a group leader can start a drill")
        if household is None:
            raise Invalid("name the household the drill is for")
        target = household
    else:
        if not principal.group_leader:
            raise Forbidden("only an admin or the group's leader can start a drill")
        target = principal
    return await create(
        session,
        principal=target,
        alert_type=alert_type,
        now=now,
        source=Channel.DRILL,
        drill_label=label,
    )


async def create_unidentified(
    session: AsyncSession,
    *,
    community_id: int,
    group_id: int | None,
    caller: str,
    source: Channel,
    now: datetime,
    alert_type: AlertType = AlertType.HELP,
) -> Change[Pressed]:
    """An alarm from a phone no household is registered with: never refused. It goes on the
    called number's group (or the community's) board, and to the on-duty patrol at once (there
    is no address for neighbours to go to). Its events show the number masked (they reach the
    group's residents too); the whole number, to call back, is on the alarm row and in a
    board-only `alert.caller` event. A later call or text of the same phone while its alarm
    is open joins that alarm (merged: counted and shown, nobody texted again)."""
    locked = await store.lock(session, community_id)
    shown = texts.masked_phone(caller)
    known = await store.open_of_caller(session, community_id=community_id, caller=caller)
    if known is not None:
        by = "unidentified caller"
        return await _merge(
            session, alert=known, actor=f"phone:{shown}", by=by, source=source, now=now
        )
    group_name = await store.group_name(session, group_id=group_id)
    alert = Alert(
        community_id=community_id,
        group_id=group_id,
        type=alert_type,
        source=source,
        caller=caller,
        created_at=now,
        updated_at=now,
    )
    await store.insert_alarm(session, alert)
    change = Change(alert, outcome=Pressed.RAISED)
    event_id = await store.record(
        session,
        change,
        type=EventType.RAISED,
        actor=f"phone:{shown}",
        channel=source,
        now=now,
        data={"raised_by": "unidentified caller", "caller": shown, "group": group_name},
    )
    await store.record(
        session,
        change,
        type=EventType.CALLER,
        actor=f"phone:{caller}",
        channel=source,
        now=now,
        audience=Audience.BOARD,
        data={"caller": caller},
    )
    patrol = await recipients.patrol(session, alert=alert, at=now, timezone=locked.timezone)
    change.texts = await recipients.queue(
        session,
        alert=alert,
        event_id=event_id,
        recipients=patrol,
        text=lambda r: texts.body(
            "patrol", language=r.language, address=caller, alert_type=alert_type
        ),
        now=now,
    )
    await store.schedule(session, alert=alert, due=escalation.first_deadlines(alert, locked, now))
    return change
