"""Committing a unit of work publishes what it recorded: no route, worker or webhook has to."""

from __future__ import annotations

from fastapi import APIRouter

from notifier.connection import event_id_of
from notifier.hub import unseal
from server import accounts
from server.alarms import lifecycle
from server.alarms import press as pressing
from server.alarms.models import AlertType
from server.runtime import work
from server.runtime.work import Recorded
from server.settings import Settings
from server.web.deps import CurrentPrincipal, Now, Session
from storage.db import create_engine, utcnow
from tests.harness import Seed, call, press, running, stream

quiet = APIRouter()


@quiet.post("/test/quiet-take/{alert_id}")
async def quiet_take(alert_id: int, principal: CurrentPrincipal, session: Session, now: Now) -> int:
    """A step written as a newcomer might: the domain call and a commit, no publishing code."""
    change = await lifecycle.take(session, principal=principal, alert_id=alert_id, now=now)
    await session.commit()
    return change.alert.id


async def test_a_step_whose_route_only_commits_is_heard_live_on_the_board(
    settings: Settings, seeded: Seed
) -> None:
    patrol = seeded.staff["patrol_member"]
    async with (
        running(settings, router=quiet) as base,
        stream(base, seeded.staff["patrol_leader"]) as board,
    ):
        raised = (await press(base, seeded.households["B11-1-301"])).json()
        assert (await board.next_event())["type"] == "alert.raised"
        alert_id = raised["alert"]["id"]
        taken = await call(base, patrol, "POST", f"/test/quiet-take/{alert_id}")
        assert taken.status_code == 200, taken.text
        event = await board.next_event()
    assert event["type"] == "alert.acknowledged"
    assert event["alert_id"] == alert_id


async def _principal(url: str, token: str) -> accounts.Principal:
    engine = create_engine(url)
    try:
        async with work.sessionmaker(engine, publish=_ignore)() as session:
            found = await accounts.authenticate(session, token)
            assert found is not None
            return found
    finally:
        await engine.dispose()


async def _ignore(recorded: Recorded) -> None:
    pass


async def test_committing_publishes_in_recorded_order_and_a_rollback_publishes_nothing(
    seeded: Seed, sqlite_url: str
) -> None:
    heard: list[Recorded] = []

    async def publish(recorded: Recorded) -> None:
        heard.append(recorded)

    raiser = await _principal(sqlite_url, seeded.households["B11-1-301"])
    engine = create_engine(sqlite_url)
    sessions = work.sessionmaker(engine, publish=publish)
    try:
        async with sessions() as session:
            await pressing.create(
                session, principal=raiser, alert_type=AlertType.FIRE, now=utcnow()
            )
            assert heard == []  # nothing leaves before the commit
            await session.rollback()
        assert heard == []

        async with sessions() as session:
            change = await pressing.create(
                session, principal=raiser, alert_type=AlertType.FIRE, now=utcnow()
            )
            await session.commit()
        assert len(heard) == 1
        (bus_channels, message), *_ = heard[0].published
        assert bus_channels == (f"community:{raiser.community_id}",)
        prev, channels, text = unseal(message)
        assert prev == 0, "the community's first event follows none"
        assert channels == (
            f"group:{raiser.group_id}",
            f"board:{raiser.community_id}",
            f"grid:{raiser.grid_id}",  # the board of the household's grid manager
        )
        assert text.startswith(f'{{"id":{change.event_id},')
        assert heard[0].texts == change.texts > 0
        chain = [unseal(m) for _, m in heard[0].published]
        ids = [event_id_of(t) for _, _, t in chain]
        assert [p for p, _, _ in chain] == [0, *ids[:-1]], "each follows the one before"

        async with sessions() as session, session.begin():  # committed by the block's end
            await pressing.create(
                session, principal=raiser, alert_type=AlertType.FIRE, now=utcnow()
            )
        assert len(heard) == 2
        prev, _, text = unseal(heard[1].published[0][1])
        assert '"type":"alert.pressed"' in text
        assert prev == ids[-1], "a later transaction follows on from the stored events"
    finally:
        await engine.dispose()
