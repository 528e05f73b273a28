"""The alarm's life: neighbours answer; the patrol takes it, goes on scene, resolves it; the
raiser cancels it with the household PIN."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from server.accounts import Principal
from server.alarms import lifecycle, views
from server.alarms.change import Change
from server.alarms.models import Answer, Outcome
from server.web.deps import CurrentPrincipal, Now, Session
from server.web.schemas import MAX_ID, AlertId, AlertOut, Step

router = APIRouter(prefix="/api/alerts/{alert_id}", tags=["lifecycle"])


class Reply(BaseModel):
    """A neighbour's answer."""

    model_config = ConfigDict(extra="forbid")

    answer: Answer


class Resolution(BaseModel):
    """How an alarm ended."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    note: str | None = Field(None, max_length=1000)


class NoteIn(BaseModel):
    """A note the board keeps on an alarm."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1000)


class Reassignment(BaseModel):
    """The patrol member an alarm goes to."""

    model_config = ConfigDict(extra="forbid")

    staff_id: int = Field(ge=1, le=MAX_ID)


class Cancellation(BaseModel):
    """The household PIN that cancels a false alarm."""

    model_config = ConfigDict(extra="forbid")

    pin: str = Field(min_length=4, max_length=8, pattern=r"^[0-9]+$")


async def _done(change: Change[Any], *, session: Session, principal: Principal) -> Step:
    """Commit the step (which publishes it) and show the alarm as the principal sees it now."""
    await session.commit()
    return Step.of(change, await views.one(session, principal=principal, alert_id=change.alert.id))


@router.post("/responses", response_model=Step)
async def respond(
    alert_id: AlertId,
    body: Reply,
    principal: CurrentPrincipal,
    session: Session,
    now: Now,
) -> Step:
    """Answer a neighbour's alarm: coming, cant or called_110."""
    change = await lifecycle.respond(
        session, principal=principal, alert_id=alert_id, answer=body.answer, now=now
    )
    return await _done(change, session=session, principal=principal)


@router.post("/take", response_model=Step)
async def take(alert_id: AlertId, principal: CurrentPrincipal, session: Session, now: Now) -> Step:
    """Take an open alarm (the patrol acknowledges it); 409 names who already took it."""
    change = await lifecycle.take(session, principal=principal, alert_id=alert_id, now=now)
    return await _done(change, session=session, principal=principal)


@router.post("/on-scene", response_model=Step)
async def on_scene(
    alert_id: AlertId, principal: CurrentPrincipal, session: Session, now: Now
) -> Step:
    """Mark that the patrol is on scene."""
    change = await lifecycle.arrive(session, principal=principal, alert_id=alert_id, now=now)
    return await _done(change, session=session, principal=principal)


@router.post("/escalate", response_model=Step)
async def escalate(
    alert_id: AlertId, principal: CurrentPrincipal, session: Session, now: Now
) -> Step:
    """Call in the police office (the patrol needs help); not for a drill."""
    change = await lifecycle.escalate(session, principal=principal, alert_id=alert_id, now=now)
    return await _done(change, session=session, principal=principal)


@router.post("/resolve", response_model=Step)
async def resolve(
    alert_id: AlertId,
    body: Resolution,
    principal: CurrentPrincipal,
    session: Session,
    now: Now,
) -> Step:
    """Close an alarm with an outcome and a note; everyone alerted is told all clear."""
    change = await lifecycle.resolve(
        session,
        principal=principal,
        alert_id=alert_id,
        outcome=body.outcome,
        note=body.note,
        now=now,
    )
    return await _done(change, session=session, principal=principal)


@router.post("/notes", response_model=Step)
async def note(
    alert_id: AlertId, body: NoteIn, principal: CurrentPrincipal, session: Session, now: Now
) -> Step:
    """Write a note on an alarm, open or closed; the board's alone."""
    change = await lifecycle.note(
        session, principal=principal, alert_id=alert_id, text=body.text, now=now
    )
    return await _done(change, session=session, principal=principal)


@router.post("/reassign", response_model=Step)
async def reassign(
    alert_id: AlertId, body: Reassignment, principal: CurrentPrincipal, session: Session, now: Now
) -> Step:
    """Give an open alarm to another patrol member of the community (taking it for them if
    nobody had); 422 for anyone else."""
    change = await lifecycle.reassign(
        session, principal=principal, alert_id=alert_id, staff_id=body.staff_id, now=now
    )
    return await _done(change, session=session, principal=principal)


@router.post("/cancel", response_model=AlertOut)
async def cancel(
    alert_id: AlertId,
    body: Cancellation,
    principal: CurrentPrincipal,
    session: Session,
    now: Now,
) -> AlertOut:
    """Cancel your household's false alarm with its PIN, within the cancel window."""
    change = await lifecycle.cancel(
        session, principal=principal, alert_id=alert_id, pin=body.pin, now=now
    )
    await session.commit()  # a wrong PIN is counted and shown on the board, then refused
    if change.refusal is not None:
        raise change.refusal
    return AlertOut.of(await views.one(session, principal=principal, alert_id=alert_id))
