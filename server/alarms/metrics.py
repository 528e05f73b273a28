"""The alarm's metrics (docs/operate.md, "Metrics"): presses by source and outcome, the time
from a press to its durable commit, and the escalation deadlines fired and how late.

Process-wide, in prometheus_client's default registry; labels bounded (a source, an outcome,
a deadline's kind), never a household or an alarm.
"""

from datetime import datetime

from prometheus_client import Counter, Histogram

from notifier.metrics import LATENCY_BUCKETS
from server.alarms.models import Deadline, Fired
from server.errors import Refusal, Unavailable

PRESSES = Counter(
    "tenwatch_presses",
    "Presses of help by source (app, button, sms, voice) and outcome (raised, merged, "
    "repeated, refused, unavailable, failed).",
    ["source", "outcome"],
)
PRESS_TO_COMMIT = Histogram(
    "tenwatch_press_to_commit_seconds",
    "From a press's arrival to its batch's durable commit (the press is answered then).",
    buckets=LATENCY_BUCKETS,
)
ESCALATIONS = Counter(
    "tenwatch_escalations",
    "Escalation deadlines acted on, by kind (quorum, patrol) and outcome (fired, met, skipped).",
    ["kind", "outcome"],
)
SCHEDULER_LAG = Histogram(
    "tenwatch_scheduler_lag_seconds",
    "How late the escalation scheduler acted on a deadline (from its due time).",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)


def pressed(source: str, outcome: str) -> None:
    """Count one press."""
    PRESSES.labels(source, outcome).inc()


def refused(source: str, refusal: Exception) -> None:
    """Count one press that was not stored: refused (the press's own fault), unavailable (no
    database) or failed (a bug: a 500 in the log)."""
    if isinstance(refusal, Unavailable):
        outcome = "unavailable"
    elif isinstance(refusal, Refusal):
        outcome = "refused"
    else:
        outcome = "failed"
    PRESSES.labels(source, outcome).inc()


def fired(kind: Deadline, outcome: Fired, *, due: datetime, now: datetime) -> None:
    """Count one deadline acted on, and how late."""
    ESCALATIONS.labels(kind.value, outcome.value).inc()
    SCHEDULER_LAG.observe(max(0.0, (now - due).total_seconds()))
