"""What a step did to an alarm: the alarm after it, its outcome, what it set in motion.

Each operation has its own enum of outcomes, so a caller can tell every case apart and no
string stands for fifteen meanings: a press is raised, merged or repeated; an answer is the
answer; taking, going on scene and resolving end in the status they lead to; a cancel is
cancelled, too late or a wrong PIN; a deadline fired, was met or was skipped."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from server.alarms.models import Alert
from server.errors import Refusal


class Pressed(StrEnum):
    """What a press did."""

    RAISED = "raised"
    MERGED = "merged"
    """Joined the household's open alarm."""
    REPEATED = "repeated"
    """The same Idempotency-Key again: the same alarm, nothing written."""


class Cancelled(StrEnum):
    """What a cancel with a PIN did."""

    CANCELLED = "cancelled"
    TOO_LATE = "too_late"
    """The cancel window had closed (the duress PIN still raised duress)."""
    WRONG_PIN = "wrong_pin"


class Escalated(StrEnum):
    """What the patrol's call to the police office did."""

    ESCALATED = "escalated"


Outcome = TypeVar("Outcome", bound=StrEnum)


@dataclass(slots=True)
class Change(Generic[Outcome]):
    """A step's result: its alarm, its outcome, the first event it wrote, the texts it queued,
    and the refusal to answer with once its transaction is committed (a wrong PIN is counted
    and stored, and still refused)."""

    alert: Alert
    outcome: Outcome
    event_id: int | None = None
    texts: int = 0
    refusal: Refusal | None = None
