"""Help requests: a resident presses help; anyone in scope reads alarms and their timelines."""

import dataclasses
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from server.alarms import events, policy, views
from server.alarms.batch import Press, Presses
from server.alarms.models import AlertType, Audience, Outcome
from server.errors import Forbidden
from server.web.deps import CurrentPrincipal, Now, Reads, Session
from server.web.schemas import (
    MAX_ID,
    AlertDetail,
    AlertId,
    AlertOut,
    EventOut,
    ResponderOut,
    ResponseOut,
    Step,
)

router = APIRouter(prefix="/api", tags=["alerts"])


class HelpRequest(BaseModel):
    """A press of the help button."""

    model_config = ConfigDict(extra="forbid")

    type: AlertType = AlertType.HELP
    household: str | None = Field(
        None, description="The household in trouble (B11-1-301); only your own.", max_length=40
    )


class Raised(Step):
    """The stored alarm, with what the press set in motion."""

    neighbours: int = Field(description="Households of the group that are alerted.")


@router.post("/alerts", status_code=201, response_model=Raised)
async def create(
    body: HelpRequest,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    reads: Reads,
    now: Now,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=100, description="Repeat a press safely: the same key, the same alarm."),
    ] = None,
) -> Raised:
    """Press help: store the alarm (or join your household's open one), then alert the group,
    the board and the phones. 201 for a new alarm, 200 when it joined or repeated one; 503 if
    the database could not be reached (press again with the same Idempotency-Key, or call).
    Under load a press waits for its community's batch: it is never refused for that."""
    presses: Presses = request.state.presses
    change = await presses.press(
        Press(
            principal=principal,
            alert_type=body.type,
            address=body.household,
            now=now,
            idempotency_key=idempotency_key,
        )
    )
    if change.outcome != "raised":
        response.status_code = 200
    shown = await views.pressed(reads, principal=principal, change=change)
    return Raised.of(change, shown, neighbours=change.alert.neighbours)


@router.get("/alerts", response_model=list[AlertOut])
async def list_alerts(
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    session: Session,
    now: Now,
    closed: Annotated[
        bool, Query(description="The alarms closed in the last 24 hours instead of open ones.")
    ] = False,
    limit: Annotated[
        int, Query(ge=1, le=views.LIST_MAX, description="At most this many alarms.")
    ] = views.LIST_LIMIT,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only alarms older than this one: the next page."),
    ] = None,
) -> list[AlertOut]:
    """The open alarms you may see (your group's, or your community's board), or the recently
    closed ones, newest first, a page at a time. A full page has a `Link: <…>; rel="next"`
    header: the same list after its last alarm (`before_id`); no header, no more."""
    if closed:
        since = now - timedelta(hours=24)
        found = await views.list_closed(
            session, principal=principal, since=since, limit=limit, before_id=before_id
        )
    else:
        found = await views.list_open(
            session, principal=principal, limit=limit, before_id=before_id
        )
    if len(found) == limit:
        after = request.url.include_query_params(limit=limit, before_id=found[-1].alert.id)
        response.headers["Link"] = f'<{after}>; rel="next"'
    return [AlertOut.of(v) for v in found]


@router.get("/alerts/history", response_model=list[AlertOut])
async def history(
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    session: Session,
    since: Annotated[datetime | None, Query(description="Raised at or after this time.")] = None,
    until: Annotated[datetime | None, Query(description="Raised before this time.")] = None,
    type: Annotated[AlertType | None, Query(description="Of this type.")] = None,
    group_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Of this group.")] = None,
    grid_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Of this grid.")] = None,
    outcome: Annotated[Outcome | None, Query(description="Closed with this outcome.")] = None,
    q: Annotated[
        str | None, Query(max_length=40, description="In the address or the raiser's name.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=views.LIST_MAX, description="At most this many alarms.")
    ] = views.LIST_LIMIT,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only alarms older than this one: the next page."),
    ] = None,
) -> list[AlertOut]:
    """The closed alarms you may see, searched by when they were raised, type, group, grid,
    outcome and text, newest first, a page at a time (a `Link: <…>; rel="next"` header on a
    full page, as the open list has)."""
    found = await views.history(
        session,
        principal=principal,
        since=since,
        until=until,
        alert_type=type,
        group_id=group_id,
        grid_id=grid_id,
        outcome=outcome,
        text=q.strip() if q else None,
        limit=limit,
        before_id=before_id,
    )
    if len(found) == limit:
        after = request.url.include_query_params(limit=limit, before_id=found[-1].alert.id)
        response.headers["Link"] = f'<{after}>; rel="next"'
    return [AlertOut.of(v) for v in found]


class PatrolMember(BaseModel):
    """A patrol member or leader an alarm can be given to."""

    staff_id: int
    name: str
    role: str


@router.get("/patrol", response_model=list[PatrolMember])
async def patrol(principal: CurrentPrincipal, session: Session) -> list[PatrolMember]:
    """The community's patrol members and leaders (whom the board reassigns an alarm to)."""
    if principal.kind != "staff":
        raise Forbidden("only staff read the patrol's list")
    found = await views.patrol(session, community_id=principal.community_id)
    return [PatrolMember(staff_id=i, name=n, role=r) for i, n, r in found]


@router.get("/alerts/{alert_id}", response_model=AlertDetail)
async def get(alert_id: AlertId, principal: CurrentPrincipal, session: Session) -> AlertDetail:
    """One alarm, if it is in your scope, with who is coming."""
    found = await views.one(session, principal=principal, alert_id=alert_id)
    answers = [] if found.hidden else await views.responses(session, alert_id=alert_id)
    context = await views.responder_context(session, principal=principal, view=found)
    phone = await views.raiser_phone(session, principal=principal, view=found)
    await session.commit()  # the audit log's record of who looked
    return AlertDetail(
        **AlertOut.of(found).model_dump(),
        responses=[ResponseOut(household=h, name=n, answer=a, channel=c) for h, n, a, c in answers],
        responder=ResponderOut(**dataclasses.asdict(context)) if context is not None else None,
        raiser_phone=phone,
    )


@router.get("/alerts/{alert_id}/timeline", response_model=list[EventOut])
async def timeline(
    alert_id: AlertId, principal: CurrentPrincipal, session: Session
) -> list[EventOut]:
    """Every step of an alarm, oldest first: who did what (by name and role), when, through
    which channel."""
    await views.one(session, principal=principal, alert_id=alert_id)
    audience = Audience.GROUP if principal.kind == "resident" else Audience.BOARD
    steps = await events.of_alert(session, alert_id=alert_id, audience=audience)
    people = await views.actors(
        session, community_id=principal.community_id, keys={e.actor for e in steps}
    )
    out = []
    for e in steps:
        who = people.get(e.actor)
        out.append(
            EventOut(
                id=e.id,
                type=e.type,
                at=e.created_at,
                actor=e.actor,
                actor_name=who.name if who else None,
                actor_role=who.role if who else ("system" if e.actor == "system" else None),
                actor_household=who.household if who else None,
                channel=e.channel,
                data=e.data,
            )
        )
    return out


class Me(BaseModel):
    """Who the credential speaks for, and which stream it hears."""

    kind: str
    name: str
    community_id: int
    household: str | None
    group_id: int | None
    group: str | None
    group_leader: bool = Field(description="Leads its ten-household group (may start drills).")
    role: str | None
    channel: str
    cancel_seconds: int = Field(
        description="How long after a press its raiser may cancel it with the PIN."
    )


@router.get("/me", response_model=Me)
async def me(principal: CurrentPrincipal, reads: Reads) -> Me:
    """Who you are to TenWatch, and your community's cancel window (the app's countdown)."""
    community_policy = await policy.get(reads, community_id=principal.community_id)
    return Me(
        kind=principal.kind,
        name=principal.name,
        community_id=principal.community_id,
        household=principal.address,
        group_id=principal.group_id,
        group=principal.group_name,
        group_leader=principal.group_leader,
        role=principal.role,
        channel=principal.channel,
        cancel_seconds=community_policy.cancel_seconds,
    )
