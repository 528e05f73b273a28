"""The duty roster's arithmetic: weekly shifts in local time, past midnight, and overrides."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from groups import directory, duty
from groups.duty import covers, is_on_duty, parse_days, parse_time
from groups.models import DutyOverride, DutyShift
from storage.db import AsyncSession

SHANGHAI = "Asia/Shanghai"


def shift(weekday: int, starts: str, ends: str) -> DutyShift:
    """A weekly shift, unsaved."""
    return DutyShift(
        weekday=weekday, starts_minute=parse_time(starts), ends_minute=parse_time(ends)
    )


def at(text: str) -> datetime:
    """A Shanghai wall-clock time (2026-11-30 is a Monday) as an aware instant."""
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-11-30T07:59", False),
        ("2026-11-30T08:00", True),
        ("2026-11-30T19:59", True),
        ("2026-11-30T20:00", False),
        ("2026-12-01T12:00", False),  # Tuesday
    ],
)
def test_a_day_shift_covers_its_hours_on_its_weekday_only(when: str, expected: bool) -> None:
    monday_days = shift(0, "08:00", "20:00")
    assert (
        is_on_duty(shifts=[monday_days], overrides=[], at=at(when), timezone=SHANGHAI) is expected
    )


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-11-30T21:59", False),
        ("2026-11-30T22:00", True),
        ("2026-12-01T05:59", True),  # Tuesday morning, still Monday's night shift
        ("2026-12-01T06:00", False),
        ("2026-11-30T03:00", False),  # Monday morning belongs to Sunday's night
    ],
)
def test_a_night_shift_runs_past_midnight_into_the_next_day(when: str, expected: bool) -> None:
    monday_night = shift(0, "22:00", "06:00")
    assert covers(monday_night, datetime.fromisoformat(when)) is expected


def test_the_latest_override_beats_the_weekly_roster() -> None:
    roster = [shift(0, "08:00", "20:00")]
    leave = DutyOverride(
        id=1, starts_at=at("2026-11-30T12:00"), ends_at=at("2026-11-30T14:00"), on_duty=False
    )
    cover = DutyOverride(
        id=2, starts_at=at("2026-11-30T13:00"), ends_at=at("2026-11-30T13:30"), on_duty=True
    )

    def duty(when: str) -> bool:
        return is_on_duty(shifts=roster, overrides=[leave, cover], at=at(when), timezone=SHANGHAI)

    assert duty("2026-11-30T11:00")
    assert not duty("2026-11-30T12:30")
    assert duty("2026-11-30T13:10")
    assert not duty("2026-11-30T13:45")
    extra = DutyOverride(
        id=3, starts_at=at("2026-12-01T00:00"), ends_at=at("2026-12-01T02:00"), on_duty=True
    )
    assert is_on_duty(
        shifts=roster, overrides=[extra], at=at("2026-12-01T01:00"), timezone=SHANGHAI
    )


def test_days_and_times_are_read_the_way_people_write_them() -> None:
    assert parse_days("mon-fri") == [0, 1, 2, 3, 4]
    assert parse_days("sat,sun") == [5, 6]
    assert parse_days("fri-mon") == [0, 4, 5, 6]
    assert parse_days("daily") == list(range(7))
    assert parse_time("8:05") == 485
    for bad in ("25:00", "8h", ""):
        with pytest.raises(ValueError, match="not a time"):
            parse_time(bad)
    with pytest.raises(ValueError, match="not a weekday"):
        parse_days("someday")


async def test_the_roster_read_in_one_query_keeps_every_shift_and_the_latest_override(
    session: AsyncSession,
) -> None:
    community = await directory.get_or_create_community(session, name="丰乐社区")
    make = directory.add_staff
    busy = await make(
        session,
        community_id=community.id,
        name="刘强",
        phone="+8613900000011",
        role="patrol_member",
    )
    free = await make(
        session,
        community_id=community.id,
        name="王芳",
        phone="+8613900000012",
        role="patrol_member",
    )
    for member in (busy, free):
        await duty.add_shift(session, staff=member, days=[0, 1, 2], starts=8 * 60, ends=20 * 60)
    monday_noon = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    whole_day = (monday_noon.replace(hour=0), monday_noon.replace(hour=23))
    await duty.add_override(
        session, staff=busy, starts_at=whole_day[0], ends_at=whole_day[1], on_duty=True
    )
    await duty.add_override(  # the later override decides: on leave
        session, staff=busy, starts_at=whole_day[0], ends_at=whole_day[1], on_duty=False
    )
    on = await duty.on_duty(session, community_id=community.id, at=monday_noon, timezone=SHANGHAI)
    assert [m.name for m in on] == ["王芳"]
    sunday_noon = monday_noon.replace(day=29)
    assert (
        await duty.on_duty(session, community_id=community.id, at=sunday_noon, timezone=SHANGHAI)
        == []
    )
