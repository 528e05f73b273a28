"""The API's shapes of an alarm and of what a step of its life set in motion."""

from datetime import date, datetime
from typing import Annotated, Any, Self

from fastapi import Path
from pydantic import BaseModel, Field

from server.alarms.change import Change
from server.alarms.models import Outcome, Status
from server.alarms.texts import masked_phone
from server.alarms.views import AlertView

MAX_ID = 2**63 - 1
"""The largest id a database row can have (a signed 64-bit integer): a larger one in a path or
query is refused as invalid instead of failing in the database driver."""

AlertId = Annotated[int, Path(ge=1, le=MAX_ID, description="The alarm's id.")]


class AlertOut(BaseModel):
    """An alarm as the API shows it."""

    id: int
    type: str
    status: str
    source: str
    group_id: int | None
    household_id: int | None
    household: str | None = Field(None, description="The address, like B11-1-301.")
    group: str | None = Field(None, description="The ten-household group's name.")
    raised_by: str | None = Field(None, description="Who pressed.")
    presses: int = Field(1, description="Presses merged into this alarm.")
    neighbours: int = Field(0, description="Households alerted besides the raiser's.")
    coming: int = Field(0, description="Neighbour households that answered 'coming'.")
    confirmed: bool = Field(False, description="A second household of the group pressed too.")
    linked_alert_id: int | None = None
    drill: bool = False
    drill_label: str | None = None
    duress: bool = Field(False, description="Cancelled with the duress PIN (board only).")
    widened: bool = False
    patrol_cycles: int = 0
    taken_by: str | None = None
    taken_at: datetime | None = None
    on_scene_at: datetime | None = None
    outcome: str | None = None
    note: str | None = None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    caller: str | None = Field(
        None,
        description="An unidentified caller's phone, to call back: whole for staff, masked for "
        "residents.",
    )
    next_escalation_at: datetime | None = Field(
        None, description="When the next stored escalation falls due (board only)."
    )
    police: bool = Field(False, description="The police office was called in (board only).")
    grid_id: int | None = Field(None, description="The grid of the raiser's household.")
    grid: str | None = Field(None, description="The grid's name (board only).")

    @classmethod
    def of(cls, view: AlertView) -> "AlertOut":
        """The API form of an alarm as its viewer may see it."""
        a = view.alert
        fields: dict[str, Any] = {
            name: getattr(a, name)
            for name in cls.model_fields
            if name not in ("household", "group", "raised_by", "taken_by")
            and name not in ("next_escalation_at", "police", "grid")
        }
        fields.update(
            household=a.address, group=view.group, raised_by=view.raised_by, taken_by=view.taken_by
        )
        fields.update(
            next_escalation_at=view.next_escalation_at, police=view.police, grid=view.grid
        )
        if not view.board:  # the board's alone: notes, rounds, duress, a caller's whole phone
            fields.update(note=None, duress=False, patrol_cycles=0)
            fields.update(next_escalation_at=None, police=False)
            fields.update(caller=masked_phone(a.caller) if a.caller else None)
        if view.hidden:
            fields.update(
                status=Status.CANCELLED,
                outcome=Outcome.FALSE_ALARM,
                duress=False,
                widened=False,
                patrol_cycles=0,
                taken_by=None,
                taken_at=None,
                on_scene_at=None,
                closed_at=a.shown_cancelled_at or a.updated_at,
                updated_at=a.shown_cancelled_at or a.updated_at,
            )
        return cls(**fields)


class ResponseOut(BaseModel):
    """A neighbour household's answer."""

    household: str
    name: str | None = Field(None, description="Who answered.")
    answer: str
    channel: str


class ResponderOut(BaseModel):
    """What a responder should know at the door (staff and the group's leader, open alarms)."""

    spare_key_holder: str | None = None
    care_note: str | None = Field(None, description="A mobility or medical note.")
    away_until: date | None = None


class AlertDetail(AlertOut):
    """An alarm with its neighbours' answers (and, for responders, its household's context)."""

    responses: list[ResponseOut] = []
    responder: ResponderOut | None = None
    raiser_phone: str | None = Field(None, description="The raiser's phone, to call back (staff).")


class Step(BaseModel):
    """What a step of an alarm's life did: the alarm after it, and what it set in motion."""

    alert: AlertOut
    outcome: str = Field(description="raised, merged, repeated, acknowledged, resolved, …")
    event_id: int | None = Field(None, description="The first event the step wrote.")
    texts: int = Field(0, description="Texts queued by the step.")

    @classmethod
    def of(cls, change: Change[Any], view: AlertView, **extra: Any) -> Self:
        """The API form of a committed change (with a subclass's extra fields)."""
        return cls(
            alert=AlertOut.of(view),
            outcome=change.outcome,
            event_id=change.event_id,
            texts=change.texts,
            **extra,
        )


class EventOut(BaseModel):
    """One step of an alarm's timeline."""

    id: int
    type: str
    at: datetime
    actor: str
    actor_name: str | None = Field(None, description="Who the actor is, by name.")
    actor_role: str | None = Field(
        None, description="The staff member's role, resident, or system."
    )
    actor_household: str | None = Field(None, description="A resident actor's address.")
    channel: str
    data: dict[str, Any]
