"""The register's shapes: the pydantic models of its requests and answers, and the annotated
types of their fields and path parameters.
"""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Id = Annotated[int, Path(ge=1, le=2**31 - 1, description="An id (the columns are 32-bit).")]
Language = Literal["zh", "en"]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Phone = Annotated[str, Field(min_length=1, max_length=20, description="E.164: +8613800000001")]
ResidentRole = Literal["stairwell_leader", "building_leader", "grid_manager"]
StaffRole = Literal["patrol_member", "patrol_leader", "grid_manager", "police_office", "admin"]
Grid = Annotated[str | None, Field(max_length=50)]


# -- shapes ----------------------------------------------------------------------------------


class ResidentOut(BaseModel):
    """A person of a household (phone masked for those who don't need it)."""

    id: int
    name: str
    phone: str | None
    roles: list[str]


class HouseholdOut(BaseModel):
    """A household as the register lists it."""

    id: int
    address: str
    group_id: int | None
    group: str | None
    leader: bool = Field(description="The group's leader household (十户长).")
    grid: str | None
    language: str
    residents: list[ResidentOut]
    spare_key_holder: str | None = None
    care_note: str | None = None
    away_until: date | None = None


class HouseholdPage(BaseModel):
    """One page of households and how many match in all."""

    households: list[HouseholdOut]
    total: int


class Changed(BaseModel):
    """What a change did: the id it made or changed, and what the admin should know (groups
    left below the policy's size)."""

    id: int | None
    notes: list[str] = []


class ResidentIn(BaseModel):
    """A person to register in a household."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: Phone | None = None
    roles: list[ResidentRole] = Field(default=[], max_length=3)


class MoveIn(BaseModel):
    """A household moving in, with its residents and (optionally) its responder context."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, max_length=40, description="Like B11-1-301.")
    residents: list[ResidentIn] = Field(min_length=1, max_length=20)
    grid: Grid = None
    language: Language = "zh"
    spare_key_holder: str | None = Field(None, max_length=200)
    care_note: str | None = Field(None, max_length=500)
    away_until: date | None = None


class HouseholdEdit(BaseModel):
    """Fields of a household to change (a field left out stays; null clears it)."""

    model_config = ConfigDict(extra="forbid")

    language: Language | None = None
    grid: Grid = None
    spare_key_holder: str | None = Field(None, max_length=200)
    care_note: str | None = Field(None, max_length=500)
    away_until: date | None = None


class ResidentEdit(BaseModel):
    """Fields of a resident to change (phone null: no phone)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phone: Phone | None = None
    roles: list[ResidentRole] | None = Field(None, max_length=3)


class GroupMove(BaseModel):
    """The group a household moves to."""

    model_config = ConfigDict(extra="forbid")

    group_id: int = Field(ge=1, le=2**31 - 1)


class LeaderChoice(BaseModel):
    """The household that leads the group."""

    model_config = ConfigDict(extra="forbid")

    household_id: int = Field(ge=1, le=2**31 - 1)


class GroupOut(BaseModel):
    """A ten-household group."""

    id: int
    name: str
    size: int
    leader: str | None = Field(description="The leader household's address.")
    leader_chosen: bool = Field(description="The admin chose the leader (it stays).")


class StaffOut(BaseModel):
    """A member of staff."""

    id: int
    name: str
    phone: str
    role: str
    grid: str | None
    language: str


class StaffIn(BaseModel):
    """A member of staff to register."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: Phone
    role: StaffRole
    grid: Grid = None
    language: Language = "zh"


class StaffEdit(BaseModel):
    """Fields of a staff member to change."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phone: Phone | None = None
    role: StaffRole | None = None
    grid: Grid = None
    language: Language | None = None


class AlarmNumberOut(BaseModel):
    """A number people call or text for help."""

    id: int
    number: str
    group_id: int | None
    group: str | None = Field(description="The group it serves; null: the whole community.")


class AlarmNumberIn(BaseModel):
    """A number to register for alarms."""

    model_config = ConfigDict(extra="forbid")

    number: Phone
    group_id: int | None = Field(None, ge=1, le=2**31 - 1)


class ShiftOut(BaseModel):
    """A weekly shift."""

    id: int
    staff_id: int
    staff: str
    day: str
    starts: str
    ends: str


class OverrideOut(BaseModel):
    """A one-off change to the roster."""

    id: int
    staff_id: int
    staff: str
    starts_at: datetime
    ends_at: datetime
    on_duty: bool


class RosterOut(BaseModel):
    """The duty roster."""

    shifts: list[ShiftOut]
    overrides: list[OverrideOut]


class RosterShiftIn(BaseModel):
    """A weekly shift of a staff member, in the community's local time."""

    model_config = ConfigDict(extra="forbid")

    staff_id: int = Field(ge=1, le=2**31 - 1)
    days: str = Field(min_length=1, max_length=40, description="mon, mon-fri, sat,sun or daily.")
    starts: str = Field(pattern=r"^\d{1,2}:\d{2}$", description="Like 08:00.")
    ends: str = Field(pattern=r"^\d{1,2}:\d{2}$", description="At or before starts: next day.")


class RosterOverrideIn(BaseModel):
    """A staff member on (or off) duty for a while."""

    model_config = ConfigDict(extra="forbid")

    staff_id: int = Field(ge=1, le=2**31 - 1)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    on_duty: bool = True


class RowErrorOut(BaseModel):
    """One bad row of an import (rows numbered as a spreadsheet shows them, header = 1)."""

    row: int
    reason: str


class ImportRefused(BaseModel):
    """Why nothing was imported: the sentence, and each bad row."""

    detail: str
    errors: list[RowErrorOut] = []


class ImportOut(BaseModel):
    """What an import wrote."""

    households: int
    residents: int
    staff: int
    groups: int
    notes: list[str] = Field(description="Groups it left below the policy's size.")


class AuditOut(BaseModel):
    """One entry of the audit log."""

    id: int
    at: datetime
    actor: str
    actor_kind: str
    actor_id: int | None
    action: str
    subject: str
    before: Any
    after: Any
    note: str | None


class AuditPage(BaseModel):
    """One page of the audit log, newest first, and how many entries match in all."""

    entries: list[AuditOut]
    total: int


class ConsentOut(BaseModel):
    """What is kept about you and who sees it, in your language, and when you consented."""

    language: str
    title: str
    paragraphs: list[str]
    agree: str
    version: str
    consented_at: datetime | None


class LanguageOut(BaseModel):
    """The language the pages and texts use for you."""

    language: Language


class LanguageIn(BaseModel):
    """The language to use for you."""

    model_config = ConfigDict(extra="forbid")

    language: Language
