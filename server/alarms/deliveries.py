"""Every recipient of an alarm and how far each got: queued → sent → delivered / failed → seen →
answered.

Read from the outbox (one row per text, call and push: its status, the provider's word and
error code, when it was queued, sent and settled), the devices that showed the alarm
(`AlertSeen`), the households' answers and who took it. `state_of` and `reason_of` are the one
reading of an outbox row that the table and the board's `alert.delivery` events share
(server/phone/delivery.py), so a table folded from events is the table read again.

Who was alerted (`server.alarms.recipients` decides it) is read back here: every household of
the alarm's groups but the raiser's (alerted on the app's socket even without a phone), and
whoever else the outbox holds a job for (leaders, the patrol, the police office). A recipient's
first job of each channel and phone is the one shown: the alarm's own text; a later one (an
escalation's, the all clear) tells nothing new about being alerted.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import select

from groups.models import Household, Resident, Staff
from notifier.models import (
    FAILED,
    PENDING,
    SENDING,
    UNDELIVERED,
    WITHDRAWN,
    OutboxMessage,
)
from server.alarms import store
from server.alarms.models import Alert, AlertResponse, AlertSeen
from server.alarms.texts import masked_phone
from storage.db import AsyncSession

State = Literal["queued", "sent", "delivered", "failed", "withdrawn", "seen", "answered", "none"]
RANK: dict[str, int] = {
    "none": -1,
    "withdrawn": -1,
    "failed": 0,
    "queued": 1,
    "sent": 2,
    "delivered": 3,
    "seen": 4,
    "answered": 5,
}
"""How far a recipient got: a row's state is the furthest of its deliveries, seen, answered."""
PENDING_STATES = frozenset({"queued", "sent"})

REASONS = {
    "21211": "invalid_number",
    "21214": "invalid_number",
    "21217": "invalid_number",
    "21401": "invalid_number",
    "21408": "region",
    "21610": "unsubscribed",
    "21612": "no_route",
    "21614": "not_mobile",
    "30003": "unreachable",
    "30004": "blocked",
    "30005": "unknown_handset",
    "30006": "landline",
    "30007": "filtered",
    "30008": "unknown",
    "gone": "push_gone",
    "push": "push_off",
}
"""The provider's error codes (Twilio's, and the push channel's own) as the catalogue's
reasons (`recipients.reason.*` in server/words/recipients.json): a plain sentence each."""
STATUS_REASONS = {"busy": "busy", "no-answer": "no_answer", "canceled": "canceled"}


def state_of(*, channel: str, status: str, delivery_status: str | None) -> State:
    """What a person reads of one outbox job: queued (here, or at the provider), sent (to the
    carrier; a call ringing; a push taken by the push service), delivered (a call answered),
    failed, or withdrawn (an all clear came before it went)."""
    if status == WITHDRAWN:
        return "withdrawn"
    if status == FAILED:
        return "failed"
    if status in (PENDING, SENDING) and delivery_status is None:
        return "queued"  # a receipt may name a job before the worker records its send
    if channel == "push":
        return "sent"  # a push has no receipt: "seen" comes from the device
    if delivery_status in UNDELIVERED:
        return "failed"
    if channel == "voice":
        if delivery_status in (None, "queued", "initiated"):
            return "queued"
        return "sent" if delivery_status == "ringing" else "delivered"
    if delivery_status in ("delivered", "read"):
        return "delivered"
    if delivery_status in ("sending", "sent"):
        return "sent"
    return "queued"


def reason_of(
    *, state: str, error_code: str | None, delivery_status: str | None, error: str | None
) -> str | None:
    """Why a job failed, as a catalogue reason (invalid_number, busy …); None unless failed."""
    if state != "failed":
        return None
    if error_code in REASONS:
        return REASONS[error_code]
    if delivery_status in STATUS_REASONS:
        return STATUS_REASONS[delivery_status]
    if error and error.startswith("expired"):
        return "expired"
    return "provider"


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose a job is, as the table names them: a household, a staff member, or a bare phone."""

    key: str
    """household:{id}, staff:{id} or phone:{masked}: the table's row."""
    kind: Literal["household", "staff", "phone"]
    household: str | None
    name: str | None
    role: str


def cell_of(job: OutboxMessage) -> str:
    """One recipient's phone (or device) on one channel: where a table row shows a job."""
    who = job.resident_id or job.staff_id or ""
    to = job.to if job.channel == "push" else masked_phone(job.to)
    return f"{job.channel}:{who}:{to}"


async def owners(
    session: AsyncSession, *, jobs: Sequence[OutboxMessage], groups: Iterable[int]
) -> dict[int, Owner]:
    """Whose each job is (by job id), in two queries; a household of the alarm's groups is a
    neighbour, another by its resident's role (a building leader, a grid manager)."""
    in_groups = set(groups)
    residents = {job.resident_id for job in jobs if job.resident_id is not None}
    staff_ids = {job.staff_id for job in jobs if job.staff_id is not None}
    people: dict[int, tuple[int, str, str, int | None, str]] = {}
    if residents:
        found = await session.execute(
            select(
                Resident.id,
                Household.id,
                Household.address,
                Household.group_id,
                Resident.name,
                Resident.roles,
            )
            .join(Household, Resident.household_id == Household.id)
            .where(Resident.id.in_(residents))
        )
        for rid, hid, address, group_id, name, roles in found:
            people[rid] = (hid, address, name, group_id, _role(roles, group_id, in_groups))
    staff: dict[int, tuple[str, str]] = {}
    if staff_ids:
        found_staff = await session.execute(
            select(Staff.id, Staff.name, Staff.role).where(Staff.id.in_(staff_ids))
        )
        staff = {sid: (name, role) for sid, name, role in found_staff}
    known: dict[int, Owner] = {}
    for job in jobs:
        if job.resident_id in people:
            hid, address, name, _, role = people[job.resident_id]
            known[job.id] = Owner(f"household:{hid}", "household", address, name, role)
        elif job.staff_id in staff:
            name, role = staff[job.staff_id]
            known[job.id] = Owner(f"staff:{job.staff_id}", "staff", None, name, role)
        else:
            phone = masked_phone(job.to)
            known[job.id] = Owner(f"phone:{phone}", "phone", None, phone, "phone")
    return known


def _role(roles: str | None, group_id: int | None, in_groups: set[int]) -> str:
    if group_id is not None and group_id in in_groups:
        return "neighbour"
    held = set((roles or "").split(","))
    for role in ("building_leader", "grid_manager"):
        if role in held:
            return role
    return "resident"


@dataclass(slots=True)
class Delivery:
    """One job of the table: a text, a call or a push to one phone or device."""

    job_id: int
    cell: str
    channel: str
    to: str
    state: State
    status: str | None
    error_code: str | None
    reason: str | None
    detail: str | None
    resident: str | None
    queued_at: datetime
    sent_at: datetime | None
    settled_at: datetime | None


@dataclass(slots=True)
class Row:
    """One household or staff member alerted, and how far they got."""

    key: str
    kind: str
    household: str | None
    name: str | None
    role: str
    deliveries: list[Delivery] = field(default_factory=list)
    seen: dict[str, datetime] = field(default_factory=dict)
    answer: str | None = None
    answer_channel: str | None = None
    answered_at: datetime | None = None

    @property
    def state(self) -> str:
        """The furthest the recipient got: answered, seen, else the best of its deliveries
        (delivered beats a second phone that failed), none when it has no phone or device."""
        if self.answer is not None:
            return "answered"
        if self.seen:
            return "seen"
        states = [d.state for d in self.deliveries if d.state != "withdrawn"]
        return max(states, key=RANK.__getitem__) if states else "none"


def delivery_of(job: OutboxMessage, *, resident: str | None = None) -> Delivery:
    """A job as the table shows it."""
    state = state_of(channel=job.channel, status=job.status, delivery_status=job.delivery_status)
    return Delivery(
        job_id=job.id,
        cell=cell_of(job),
        channel=job.channel,
        to="device" if job.channel == "push" else masked_phone(job.to),
        state=state,
        status=job.delivery_status,
        error_code=job.error_code,
        reason=reason_of(
            state=state,
            error_code=job.error_code,
            delivery_status=job.delivery_status,
            error=job.error,
        ),
        detail=job.error if state == "failed" else None,
        resident=resident,
        queued_at=job.created_at,
        sent_at=job.sent_at,
        settled_at=job.settled_at,
    )


async def table(session: AsyncSession, *, alert: Alert) -> list[Row]:
    """The alarm's recipient table: households by address, then staff, then bare phones."""
    groups = await store.audience_groups(session, alert)
    rows: dict[str, Row] = {}
    if groups:
        found = await session.execute(
            select(Household.id, Household.address)
            .where(Household.group_id.in_(groups), Household.id != (alert.household_id or 0))
            .order_by(Household.address)
        )
        for hid, address in found:
            rows[f"household:{hid}"] = Row(
                f"household:{hid}", "household", address, None, "neighbour"
            )
    jobs = list(
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.alert_id == alert.id)
            .order_by(OutboxMessage.id)
        )
    )
    whose = await owners(session, jobs=jobs, groups=groups)
    shown: set[tuple[str, str]] = set()
    for job in jobs:
        owner = whose[job.id]
        row = rows.setdefault(
            owner.key, Row(owner.key, owner.kind, owner.household, owner.name, owner.role)
        )
        cell = cell_of(job)
        if (owner.key, cell) in shown:
            continue  # a later text of the same phone: an escalation's, the all clear
        shown.add((owner.key, cell))
        row.name = row.name or owner.name
        row.deliveries.append(
            delivery_of(job, resident=owner.name if owner.kind == "household" else None)
        )
    by_household = {
        int(key.split(":")[1]): row for key, row in rows.items() if row.kind == "household"
    }
    if by_household:
        for hid, via, at in await session.execute(
            select(AlertSeen.household_id, AlertSeen.via, AlertSeen.seen_at).where(
                AlertSeen.alert_id == alert.id
            )
        ):
            if hid in by_household:
                by_household[hid].seen[str(via)] = at
        for hid, answer, channel, at in await session.execute(
            select(
                AlertResponse.household_id,
                AlertResponse.answer,
                AlertResponse.channel,
                AlertResponse.created_at,
            ).where(AlertResponse.alert_id == alert.id)
        ):
            if hid in by_household:
                row = by_household[hid]
                row.answer, row.answer_channel, row.answered_at = str(answer), str(channel), at
        names = await session.execute(
            select(Resident.household_id, Resident.name)
            .where(Resident.household_id.in_(by_household))
            .order_by(Resident.id)
        )
        for hid, name in names:
            by_household[hid].name = by_household[hid].name or name
    taker = rows.get(f"staff:{alert.taken_by_staff_id}")
    if taker is not None:
        taker.answer, taker.answered_at = "taken", alert.taken_at
    order = {"household": 0, "staff": 1, "phone": 2}
    return sorted(
        rows.values(), key=lambda r: (order[r.kind], r.household or "", r.role, r.name or "")
    )


@dataclass(frozen=True, slots=True)
class Tally:
    """How an alarm's texts and calls stand: all, delivered, failed, still on their way."""

    total: int
    delivered: int
    failed: int
    pending: int


async def tally(session: AsyncSession, *, alert_id: int) -> Tally:
    """The alarm's texts and calls (pushes have no receipt) by state, withdrawn ones aside."""
    found = await session.execute(
        select(OutboxMessage.channel, OutboxMessage.status, OutboxMessage.delivery_status).where(
            OutboxMessage.alert_id == alert_id, OutboxMessage.channel != "push"
        )
    )
    states = [state_of(channel=c, status=s, delivery_status=d) for c, s, d in found]
    states = [s for s in states if s != "withdrawn"]
    return Tally(
        total=len(states),
        delivered=states.count("delivered"),
        failed=states.count("failed"),
        pending=sum(s in PENDING_STATES for s in states),
    )
