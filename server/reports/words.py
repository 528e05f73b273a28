"""The report's words (the catalogue's `report.…` entries, server/words/report.json, and the
shared alarm types) and the ways it says months, moments and durations in the reader's
language."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from server import words

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
OWN = "report."
"""The report's own entries are `report.…` in the catalogue; shared ones (`type.…`) are
common.json's."""


def language(value: str | None) -> str:
    """`en` or `zh` (anything else reads as Chinese)."""
    return words.language_of(value)


@dataclass(frozen=True, slots=True)
class Say:
    """The report's words in one language."""

    lang: str

    def __call__(self, key: str, **values: Any) -> str:
        """The report's entry for key (`report.` + key, else the shared key), {name} filled."""
        known = words.catalogue()["en" if self.lang == "en" else "zh"]
        found = OWN + key if OWN + key in known else key
        return words.say(found, language=self.lang, **values)

    def month(self, month: str) -> str:
        """ "2026年11月" or "November 2026" for `2026-11`."""
        year, number = (int(part) for part in month.split("-"))
        said = MONTHS[number - 1] if self.lang == "en" else number
        return self("month_label", year=year, month=said)

    def moment(self, at: datetime, timezone: str) -> str:
        """A moment in the community's time: "2026-11-30 21:05"."""
        return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")

    def day(self, at: datetime, timezone: str) -> str:
        """A day in the community's time: "2026-11-01"."""
        return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d")

    def duration(self, seconds: float | None) -> str:
        """ "95 秒" / "1 分 35 秒" ("95 s", "1 min 35 s"); a dash for none."""
        if seconds is None:
            return self("response.none")
        whole = round(seconds)
        if whole < 60:
            return self("response.seconds", n=whole)
        return self("response.minutes", m=whole // 60, s=whole % 60)

    def scope(self, report: dict[str, Any]) -> str:
        """The grid's name, or the whole community."""
        grid = report.get("grid")
        return str(grid["name"]) if grid else self("report.whole")

    def name(self, row: dict[str, Any]) -> str:
        """A group's or grid's name; the alarms of no group or grid are "not registered"."""
        return str(row["name"]) if row["id"] is not None else self("figure.none")
