"""The supervision's and the watchdog's figures, in prometheus_client's default registry (the
service's /metrics renders it). Module-level: a registry takes each name once per process, and
several apps of one process (tests) share them."""

from prometheus_client import Counter, Gauge

LEG_OK = Gauge(
    "tenwatch_supervision_ok",
    "1 if the last supervision round's leg passed (stored, heard, sent), else 0.",
    ["leg"],
)
LEG_SECONDS = Gauge(
    "tenwatch_supervision_leg_seconds",
    "How long the last round's leg took from the round's start (its deadline if it failed).",
    ["leg"],
)
FAILURES = Counter(
    "tenwatch_supervision_failures",
    "Supervision rounds whose leg failed, by the first failing leg.",
    ["leg"],
)
LAST_SUCCESS = Gauge(
    "tenwatch_supervision_last_success_timestamp_seconds",
    "When (Unix time) the last round whose every leg passed ended; 0 before the first.",
)
HEARTBEAT_AGE = Gauge(
    "tenwatch_worker_heartbeat_age_seconds",
    "Seconds since the worker's loop last completed a turn.",
    ["worker"],
)
WEDGED = Gauge(
    "tenwatch_worker_wedged",
    "1 if the watchdog says the worker is wedged (or stopped), else 0.",
    ["worker"],
)
