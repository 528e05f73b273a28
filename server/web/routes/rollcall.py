"""The roll call (平安报): staff start one for a building, a grid or the community and watch the
tally; residents answer from the app, a push's button, a text or the call (docs/rollcall.md).
Thin routes over `server.rollcall.service`."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from server.accounts import Principal, for_resident
from server.errors import Conflict, Forbidden, Malformed
from server.phone import inbound, twiml
from server.rollcall import service
from server.rollcall.models import RollAnswer, RollCall, RollCallHousehold
from server.web.deps import CurrentPrincipal, Now, Session
from server.web.routes.pages import STATIC
from server.web.routes.twilio import Form, xml
from server.web.schemas import MAX_ID

router = APIRouter(tags=["rollcall"])
RollCallId = Annotated[int, Path(ge=1, le=MAX_ID)]


class StartIn(BaseModel):
    """A roll call to start."""

    model_config = ConfigDict(extra="forbid")

    scope: str = Field(
        min_length=3,
        max_length=40,
        description="building:<name> (building:B11), grid:<id> or community.",
    )
    note: str = Field("", max_length=200, description="What happened, said with the question.")
    call_after_seconds: int = Field(
        service.CALL_AFTER_SECONDS,
        ge=30,
        le=6 * 3600,
        description="Households that have not answered by then are phoned.",
    )


class AnswerIn(BaseModel):
    """A household's answer."""

    model_config = ConfigDict(extra="forbid")

    answer: RollAnswer


class PushAnswerIn(BaseModel):
    """A roll call notification's button, with the answer token its push carried."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=20, max_length=100)
    answer: RollAnswer


class Tally(BaseModel):
    """How the households answered so far."""

    ok: int
    help: int
    no_answer: int
    households: int


class RollCallOut(BaseModel):
    """A roll call and its tally."""

    id: int
    scope: str
    note: str
    status: Literal["open", "closed"]
    started_by: str
    created_at: datetime
    call_due_at: datetime
    called_at: datetime | None
    closed_at: datetime | None
    tally: Tally


class HouseholdOut(BaseModel):
    """One household asked, where it is, and what it answered (null: not yet)."""

    household: str
    building: str
    unit: int
    floor: int
    room: int
    group_id: int | None
    answer: RollAnswer | None
    answered_at: datetime | None
    via: str | None = Field(description="app, push, sms or voice.")
    alert_id: int | None = Field(description="The alarm its 'need help' raised.")
    called: bool


class FloorOut(BaseModel):
    """The households of one floor that have not answered."""

    floor: int
    households: list[str]


class UnitOut(BaseModel):
    """A unit's floors with households to knock at."""

    unit: int
    floors: list[FloorOut]


class BuildingOut(BaseModel):
    """A building's units with households to knock at."""

    building: str
    units: list[UnitOut]


class RollCallDetail(RollCallOut):
    """A roll call with every household's answer and the door-knocking list."""

    households: list[HouseholdOut]
    knock: list[BuildingOut]


class AnsweredOut(BaseModel):
    """What an answer did."""

    outcome: Literal["answered", "repeated", "help_stands"]
    answer: RollAnswer
    household: str
    alert_id: int | None


class AskedOut(BaseModel):
    """An open roll call asking the resident's household, and its answer so far."""

    id: int
    note: str
    created_at: datetime
    answer: RollAnswer | None


async def _out(session: Session, rollcall: RollCall) -> RollCallOut:
    return RollCallOut(
        id=rollcall.id,
        scope=service.scope_name(rollcall),
        note=rollcall.note,
        status="open" if rollcall.is_open else "closed",
        started_by=rollcall.started_by,
        created_at=rollcall.created_at,
        call_due_at=rollcall.call_due_at,
        called_at=rollcall.called_at,
        closed_at=rollcall.closed_at,
        tally=Tally(**await service.tally(session, rollcall_id=rollcall.id)),
    )


def _household(row: RollCallHousehold) -> HouseholdOut:
    return HouseholdOut(
        household=row.address,
        building=row.building,
        unit=row.unit,
        floor=row.floor,
        room=row.room,
        group_id=row.group_id,
        answer=row.answer,
        answered_at=row.answered_at,
        via=row.channel,
        alert_id=row.alert_id,
        called=row.called,
    )


def _answered(answered: service.Answered) -> AnsweredOut:
    return AnsweredOut(
        outcome=answered.outcome,
        answer=answered.answer,
        household=answered.address,
        alert_id=answered.alert_id,
    )


@router.post("/api/rollcalls", status_code=201, response_model=RollCallOut)
async def start(
    body: StartIn, principal: CurrentPrincipal, session: Session, now: Now
) -> RollCallOut:
    """Start a roll call ("are you OK?") for a building, a grid or the community: every
    household in it is asked in the app, by push and by text, and phoned if it has not answered
    within `call_after_seconds`. A grid manager: their grid, or a building in it."""
    rollcall = await service.start(
        session,
        principal=principal,
        scope=body.scope,
        note=body.note,
        now=now,
        call_after_seconds=body.call_after_seconds,
    )
    await session.commit()
    return await _out(session, rollcall)


@router.get("/api/rollcalls", response_model=list[RollCallOut])
async def list_rollcalls(principal: CurrentPrincipal, session: Session) -> list[RollCallOut]:
    """The newest roll calls in your scope, open ones first, with their tallies."""
    return [await _out(session, r) for r in await service.list_recent(session, principal=principal)]


@router.get("/api/rollcalls/{rollcall_id}", response_model=RollCallDetail)
async def get(
    rollcall_id: RollCallId, principal: CurrentPrincipal, session: Session
) -> RollCallDetail:
    """One roll call: its tally, every household's answer, and who has not answered by
    building → unit → floor (the door-knocking list)."""
    rollcall = await service.get(session, principal=principal, rollcall_id=rollcall_id)
    rows = await service.households(session, rollcall_id=rollcall.id)
    out = await _out(session, rollcall)
    return RollCallDetail(
        **out.model_dump(),
        households=[_household(row) for row in rows],
        knock=[BuildingOut(**b) for b in service.knock_list(rows)],
    )


@router.get("/api/rollcalls/{rollcall_id}/knock", response_model=list[BuildingOut])
async def knock(
    rollcall_id: RollCallId, principal: CurrentPrincipal, session: Session
) -> list[BuildingOut]:
    """The households that have not answered, by building → unit → floor."""
    rollcall = await service.get(session, principal=principal, rollcall_id=rollcall_id)
    rows = await service.households(session, rollcall_id=rollcall.id)
    return [BuildingOut(**b) for b in service.knock_list(rows)]


@router.post("/api/rollcalls/{rollcall_id}/close", response_model=RollCallOut)
async def close(
    rollcall_id: RollCallId, principal: CurrentPrincipal, session: Session, now: Now
) -> RollCallOut:
    """Close a roll call: no more answers, nobody more phoned."""
    rollcall = await service.close(session, principal=principal, rollcall_id=rollcall_id, now=now)
    await session.commit()
    return await _out(session, rollcall)


@router.post("/api/rollcalls/{rollcall_id}/answer", response_model=AnsweredOut)
async def answer(
    rollcall_id: RollCallId, body: AnswerIn, principal: CurrentPrincipal, session: Session, now: Now
) -> AnsweredOut:
    """Answer a roll call for your household: ok, or help (which raises your household's help
    alarm). 409 for an OK after help: the alarm stands until the patrol closes it."""
    answered = await service.answer(
        session,
        principal=principal,
        answer=body.answer,
        channel="app",
        now=now,
        rollcall_id=rollcall_id,
    )
    if answered.outcome == "help_stands":
        raise Conflict("your household asked for help: its alarm stays open until it is closed")
    await session.commit()
    return _answered(answered)


@router.post("/api/rollcalls/push-answer", response_model=AnsweredOut)
async def push_answer(body: PushAnswerIn, session: Session, now: Now) -> AnsweredOut:
    """Answer a roll call from its notification's button, with the answer token it carried
    (good while the roll call is open); recorded as the household's first resident."""
    rollcall, row = await service.household_of_token(session, token=body.token)
    resident_id = await service.first_resident(session, household_id=row.household_id)
    principal: Principal | None = (
        await for_resident(session, resident_id=resident_id) if resident_id is not None else None
    )
    if principal is None:
        raise Forbidden("this household has no resident to answer for")
    answered = await service.answer(
        session,
        principal=principal,
        answer=body.answer,
        channel="push",
        now=now,
        rollcall_id=rollcall.id,
    )
    await session.commit()
    return _answered(answered)


@router.get("/api/me/rollcalls", response_model=list[AskedOut])
async def mine(principal: CurrentPrincipal, session: Session) -> list[AskedOut]:
    """The open roll calls asking your household (the app's "are you OK?" after a reload)."""
    if principal.kind != "resident" or principal.household_id is None:
        return []
    asked = await service.open_for_household(session, household_id=principal.household_id)
    return [
        AskedOut(id=r.id, note=r.note, created_at=r.created_at, answer=row.answer)
        for r, row in asked
    ]


@router.post("/twilio/voice/rollcall", tags=["phone"])
async def call_answer(job: int, form: Form, session: Session, now: Now) -> Response:
    """A called household pressed a digit on a roll call's call: 1 OK, 2 need help (signed by
    Twilio). A call answers once: a repeat hears the same reply and changes nothing."""
    call_sid = form.get("CallSid", "").strip()
    if not call_sid:
        raise Malformed("{name} is missing", name="CallSid")
    answer, language = await inbound.answer_rollcall_call(
        session,
        job_id=job,
        call_sid=call_sid,
        digits=form.get("Digits", ""),
        now=now,
        called=form.get("To", ""),
        ours=form.get("From", ""),
    )
    await session.commit()
    return xml(twiml.voice_rollcall_answered(answer=answer, language=language))


@router.get("/rollcall", include_in_schema=False)
async def page() -> FileResponse:
    """The roll call page (staff): start one, watch the tally, print the knock list."""
    return FileResponse(STATIC / "rollcall.html", headers={"Cache-Control": "no-cache"})
