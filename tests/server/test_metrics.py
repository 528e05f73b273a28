"""`/metrics` as Prometheus scrapes it: a press moves the presses counter and both latency
histograms, the outbox's backlog and its sends' provider codes show, a fired deadline is
counted, the default registry's metrics come along, and only the token or staff read it in
production."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY, Gauge
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from notifier.models import PENDING, OutboxMessage
from server.settings import Settings
from storage.db import create_engine
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, bearer, poll_until, press, running, stream
from tests.server.phone_support import outbox_of, phone_settings, serving
from tests.server.test_phone_outbox import all_settled
from tests.server.world import RAISER, World

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape_text(base: str, token: str | None = None) -> str:
    """The text of one scrape of /metrics (as Prometheus, with a bearer token if given)."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        answer = await client.get("/metrics", headers=bearer(token) if token else None)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def parse(text: str) -> Samples:
    """Every sample of a scrape by name and labels (the parser refuses a malformed text)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(base: str, token: str | None = None) -> Samples:
    """One scrape of /metrics, parsed."""
    return parse(await scrape_text(base, token))


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a labelled series not yet counted."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How far a counter (or a histogram's count) moved between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


async def test_a_press_counts_once_by_source_and_outcome_and_is_timed_to_commit_and_sockets(
    world: World,
) -> None:
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.token(world.neighbours()[0])) as neighbour,
        stream(base, world.seed.staff["patrol_member"]) as board,
    ):
        before = await scrape(base)
        assert value(before, "tenwatch_sockets", kind="group") == 1
        assert value(before, "tenwatch_sockets", kind="board") == 1
        assert value(before, "tenwatch_bus_up", backend=world.settings.bus_url.split(":")[0]) == 1

        alert_id = await world.resident(base).raise_alarm()
        raised = await neighbour.next_event()
        assert (raised["type"], raised["alert_id"]) == ("alert.raised", alert_id)
        await board.next_event()
        after = await scrape(base)
        assert moved(before, after, "tenwatch_presses_total", source="app", outcome="raised") == 1
        assert moved(before, after, "tenwatch_presses_total", source="app", outcome="merged") == 0
        assert moved(before, after, "tenwatch_press_to_commit_seconds_count") == 1
        assert moved(before, after, "tenwatch_press_to_socket_seconds_count") == 1

        answer = await world.resident(base).press()  # joins its household's open alarm
        assert answer.status_code == 200, answer.text
        await neighbour.next_event()
        again = await scrape(base)
    assert moved(after, again, "tenwatch_presses_total", source="app", outcome="merged") == 1
    assert moved(after, again, "tenwatch_press_to_commit_seconds_count") == 1
    assert moved(after, again, "tenwatch_press_to_socket_seconds_count") == 0  # not a raise


async def test_a_press_with_no_socket_of_its_group_here_is_not_timed_to_sockets(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        before = await scrape(base)
        await world.resident(base).raise_alarm()
        after = await scrape(base)
    assert moved(before, after, "tenwatch_presses_total", source="app", outcome="raised") == 1
    assert moved(before, after, "tenwatch_press_to_socket_seconds_count") == 0


async def test_the_outbox_shows_its_depth_and_how_long_its_oldest_due_job_has_waited(
    world: World,
) -> None:
    settings = world.settings.model_copy(update={"outbox_poll_seconds": 3600.0})
    async with running(settings, clock=world.clock) as base:
        before = await scrape(base)
        assert value(before, "tenwatch_database_up") == 1
        # A job stored behind the worker's back (nothing wakes it): due in a minute.
        await _store_job(world, due=world.clock() + timedelta(seconds=60))
        waiting = await scrape(base)
        world.clock.advance(90)
        due = await scrape(base)
    assert value(waiting, "tenwatch_outbox_jobs", channel="voice", status="pending") == 1
    assert value(waiting, "tenwatch_outbox_oldest_due_seconds", channel="voice") == 0
    assert value(due, "tenwatch_outbox_oldest_due_seconds", channel="voice") == 30


async def _store_job(world: World, *, due: datetime) -> None:
    """Store one voice job due at `due`, as another process would."""
    engine = create_engine(world.url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(OutboxMessage).values(
                    community_id=world.seed.community_id,
                    channel="voice",
                    to="+8613800009999",
                    body="test",
                    status=PENDING,
                    next_attempt_at=due,
                )
            )
    finally:
        await engine.dispose()


async def test_sends_are_counted_by_the_providers_error_code(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.fail_next(
        status=400, code=21211, message="The 'To' number is not a valid phone number."
    )
    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base:
        before = await scrape(base)
        await press(base, seeded.households["B11-2-101"])
        await poll_until(lambda: all_settled(sqlite_url, 9), timeout=30)
        after = await scrape(base)
    jobs = await outbox_of(sqlite_url)
    sms = sum(job.channel == "sms" for job in jobs)
    refused = moved(
        before, after, "tenwatch_sends_total", channel="sms", result="refused", code="21211"
    )
    assert refused == 1
    assert (
        moved(before, after, "tenwatch_sends_total", channel="sms", result="sent", code="")
        == sms - 1
    )


async def test_a_deadline_that_fires_is_counted_with_how_late_it_fired(world: World) -> None:
    async with running(world.settings, clock=world.clock) as base:
        await world.resident(base).raise_alarm()
        before = await scrape(base)
        world.clock.advance(46)  # nobody is coming: the neighbours' quorum widens the alarm

        async def widened() -> bool:
            now = await scrape(base)
            return (
                moved(before, now, "tenwatch_escalations_total", kind="quorum", outcome="fired") > 0
            )

        await poll_until(widened)
        after = await scrape(base)
    assert moved(before, after, "tenwatch_escalations_total", kind="quorum", outcome="fired") == 1
    assert moved(before, after, "tenwatch_escalations_total", kind="patrol", outcome="fired") == 0
    assert moved(before, after, "tenwatch_scheduler_lag_seconds_count") == 1
    # The clock stood 46 s after the press when the 45 s deadline fired: a second late.
    assert moved(before, after, "tenwatch_scheduler_lag_seconds_sum") == 1


async def test_the_scrape_is_one_valid_text_with_the_default_registrys_metrics_too(
    settings: Settings, seeded: Seed
) -> None:
    supervised = Gauge("tenwatch_test_supervised", "A gauge another module defines.")
    supervised.set(7)
    try:
        async with running(settings) as base:
            text = await scrape_text(base)
    finally:
        REGISTRY.unregister(supervised)
    families: defaultdict[str, int] = defaultdict(int)
    for family in text_string_to_metric_families(text):
        families[family.name] += 1
    assert all(count == 1 for count in families.values()), families
    samples = parse(text)
    assert value(samples, "tenwatch_test_supervised") == 7
    assert "process_cpu_seconds" in families or "python_gc_objects_collected" in families
    for name in (
        "tenwatch_presses",
        "tenwatch_press_to_commit_seconds",
        "tenwatch_press_to_socket_seconds",
        "tenwatch_sockets",
        "tenwatch_bus_up",
        "tenwatch_outbox_jobs",
        "tenwatch_outbox_oldest_due_seconds",
        "tenwatch_sends",
        "tenwatch_escalations",
        "tenwatch_scheduler_lag_seconds",
        "tenwatch_sqlite_checkpoint_lag_frames",
        "tenwatch_db_pool_wait_seconds",
        "tenwatch_db_pool_connections",
    ):
        assert name in families, name
    assert value(samples, "tenwatch_db_pool_connections", pool="main", state="size") == 1


TOKEN = "a-random-scrape-token-0123456789"


async def test_with_a_metrics_token_only_it_and_staff_read_the_metrics(
    sqlite_url: str, seeded: Seed
) -> None:
    settings = Settings(database_url=sqlite_url, metrics_token=TOKEN)
    async with running(settings) as base, httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers=bearer("not-the-token"))).status_code == 401
        resident = await client.get("/metrics", headers=bearer(seeded.households[RAISER]))
        assert resident.status_code == 403
        assert resident.json()["detail"] == "only staff or the metrics token read the metrics"
        assert (await client.get("/metrics", headers=bearer(TOKEN))).status_code == 200
        staff = await client.get("/metrics", headers=bearer(seeded.staff["admin"]))
        assert staff.status_code == 200


async def test_in_production_without_a_token_only_staff_read_the_metrics(
    sqlite_url: str, seeded: Seed
) -> None:
    settings = Settings(database_url=sqlite_url)
    settings.environment = "production"  # the app runs on SQLite all the same
    async with running(settings) as base, httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/metrics")).status_code == 401
        staff = await client.get("/metrics", headers=bearer(seeded.staff["patrol_leader"]))
        assert staff.status_code == 200


@pytest.mark.parametrize("weak", ["secret", "short-token"])
def test_production_refuses_a_short_or_example_metrics_token(weak: str) -> None:
    with pytest.raises(ValueError, match="TENWATCH_METRICS_TOKEN"):
        _production(metrics_token=weak)
    assert _production(metrics_token=TOKEN).metrics_token is not None


def _production(*, metrics_token: str) -> Settings:
    return Settings(
        environment="production",
        database_url="postgresql+asyncpg://tenwatch:s3cure-and-long@db/tenwatch",
        public_base_url="https://tenwatch.example.org",
        metrics_token=metrics_token,
    )
