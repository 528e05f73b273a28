"""The report's tables as rows (the CSV export, the PDF's tables and the page read the same
rows) and the CSV itself: UTF-8 with a BOM, so Excel opens the Chinese as Chinese."""

import csv
import io
from typing import Any

from server.reports.words import Say


def summary_rows(figures: dict[str, Any], say: Say) -> list[list[str]]:
    """Alarms, false alarms and duress of some figures."""
    return [
        [say(f"figure.{key}"), str(figures[key])] for key in ("total", "false_alarms", "duress")
    ]


def response_rows(figures: dict[str, Any], say: Say) -> list[list[str]]:
    """Each response time: count, median, p90 (in the reader's words)."""
    return [
        [
            say(f"response.{step}"),
            str(times["count"]),
            say.duration(times["median_seconds"]),
            say.duration(times["p90_seconds"]),
        ]
        for step, times in figures["response"].items()
    ]


def escalation_rows(figures: dict[str, Any], say: Say) -> list[list[str]]:
    """Escalations by level: how many, of how many alarms."""
    return [
        [say(f"level.{level}"), str(counts["events"]), str(counts["alarms"])]
        for level, counts in figures["escalations"].items()
    ]


DELIVERY_PARTS = ("total", "delivered", "sent", "failed", "pending", "withdrawn")


def delivery_rows(figures: dict[str, Any], say: Say) -> list[list[str]]:
    """Per channel: total, delivered, sent without receipt, failed, pending, withdrawn, rate."""
    return [
        [say(f"channel.{channel}")]
        + [str(counts[part]) for part in DELIVERY_PARTS]
        + [_percent(counts["rate"])]
        for channel, counts in figures["delivery"].items()
    ]


UNREACHABLE_PARTS = ("households", "no_phone", "last_text_failed", "no_app", "unreachable")


def unreachable_rows(unreachable: dict[str, Any], say: Say) -> list[list[str]]:
    """The households the service cannot reach, by reason."""
    return [[say(f"unreachable.{part}"), str(unreachable[part])] for part in UNREACHABLE_PARTS]


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def csv_rows(report: dict[str, Any], say: Say) -> list[list[str]]:
    """Every figure as (section, item, real alarms, drills); times in seconds, rates as 0–1."""
    real, drills = report["figures"], report["drills"]
    rows: list[list[str]] = [
        [say("report.title"), say.month(report["month"]), say.scope(report), ""],
        [say("csv.section"), say("csv.item"), say("csv.real"), say("csv.drills")],
    ]

    def add(section: str, item: str, value: Any, drill: Any) -> None:
        rows.append([say(section), item, str(value), str(drill)])

    for key in ("total", "false_alarms", "duress"):
        add("section.summary", say(f"figure.{key}"), real[key], drills[key])
    for kind in real["by_type"]:
        add("section.by_type", say(f"type.{kind}"), real["by_type"][kind], drills["by_type"][kind])
    for key in ("by_grid", "by_group"):
        counts = {say.name(r): r["count"] for r in real[key]}
        drilled = {say.name(r): r["count"] for r in drills[key]}
        for name in [*counts, *(n for n in drilled if n not in counts)]:
            add(f"section.{key}", name, counts.get(name, 0), drilled.get(name, 0))
    for hour in range(24):
        add("section.by_hour", f"{hour:02d}", real["by_hour"][hour], drills["by_hour"][hour])
    for step in real["response"]:
        mine, theirs = real["response"][step], drills["response"][step]
        name = say(f"response.{step}")
        add("section.response", f"{name} · {say('response.count')}", mine["count"], theirs["count"])
        for key, part in (("median_seconds", "response.median"), ("p90_seconds", "response.p90")):
            item = f"{name} · {say(part)} ({say('csv.seconds')})"
            add("section.response", item, _seconds(mine[key]), _seconds(theirs[key]))
    for level in real["escalations"]:
        mine, theirs = real["escalations"][level], drills["escalations"].get(level, {})
        for part in ("events", "alarms"):
            item = f"{say(f'level.{level}')} · {say(f'level.{part}')}"
            add("section.escalations", item, mine[part], theirs.get(part, 0))
    for channel in real["delivery"]:
        mine, theirs = real["delivery"][channel], drills["delivery"][channel]
        for part in (*DELIVERY_PARTS, "rate"):
            item = f"{say(f'channel.{channel}')} · {say(f'delivery.{part}')}"
            value, drill = mine[part], theirs[part]
            if part == "rate":
                value, drill = _rate(value), _rate(drill)
            add("section.delivery", item, value, drill)
    for part in UNREACHABLE_PARTS:
        add("section.unreachable", say(f"unreachable.{part}"), report["unreachable"][part], "")
    return rows


def _rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.4f}"


def to_csv(report: dict[str, Any], say: Say) -> bytes:
    """The report as CSV: UTF-8 with a BOM (Excel reads it as UTF-8 then), CRLF lines."""
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(report, say))
    return ("\ufeff" + out.getvalue()).encode("utf-8")
