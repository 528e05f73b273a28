"""The report's words (server/words/report.json, in Chinese and English) and the ways it says
months, moments and durations in the reader's language."""

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

WORDS = Path(__file__).resolve().parent.parent / "words" / "report.json"
LANGUAGES = ("zh", "en")
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


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every label of the report: key → {"zh": …, "en": …}."""
    found: dict[str, dict[str, str]] = json.loads(WORDS.read_text(encoding="utf-8"))
    return found


def language(value: str | None) -> str:
    """`en` or `zh` (anything else reads as Chinese)."""
    return "en" if value == "en" else "zh"


@dataclass(frozen=True, slots=True)
class Say:
    """The report's words in one language."""

    lang: str

    def __call__(self, key: str, **values: Any) -> str:
        """The label for key, with {name} filled from values (the key itself if unknown)."""
        entry = catalogue().get(key)
        text = (entry.get(self.lang) or entry.get("zh") or key) if entry else key
        return text.format(**values) if values else text

    def labels(self) -> dict[str, str]:
        """Every label in this language (the page reads them from the report's answer)."""
        return {key: self(key) for key in catalogue()}

    def month(self, month: str) -> str:
        """ "2026年11月" or "November 2026" for `2026-11`."""
        year, number = (int(part) for part in month.split("-"))
        return self("report.month_label", year=year, month=number, month_name=MONTHS[number - 1])

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
