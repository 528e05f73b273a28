"""The report as a PDF of A4 pages, drawn by matplotlib's PDF backend: the same charts as the
page, and the tables beside them, in the reader's language."""

import io
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from server.reports import charts, export
from server.reports.words import Say

if TYPE_CHECKING:
    from matplotlib.figure import Figure, SubFigure

A4 = (8.27, 11.69)  # inches


def render(report: dict[str, Any], say: Say) -> bytes:
    """The report's PDF: the summary and tables, the charts, then the drills apart."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_pdf import PdfPages

    out = io.BytesIO()
    with rc_context(charts.style()), PdfPages(out, metadata=_metadata(report, say)) as pdf:
        for page in (_tables, _charts_one, _charts_two, _drills):
            pdf.savefig(page(report, say))
    return out.getvalue()


def _metadata(report: dict[str, Any], say: Say) -> dict[str, Any]:
    return {
        "Title": f"{say('report.title')} {say.month(report['month'])} {say.scope(report)}",
        "Creator": "TenWatch",
        "CreationDate": None,  # the same report renders the same bytes
        "ModDate": None,
    }


def _page(
    report: dict[str, Any], say: Say, *, heights: list[float]
) -> tuple["Figure", list["SubFigure"]]:
    """An A4 page with the report's heading on top and room below in rows of these heights."""
    from matplotlib.figure import Figure

    page = Figure(figsize=A4)
    rows = list(
        page.subfigures(len(heights) + 1, 1, height_ratios=[0.9, *heights], squeeze=False)[:, 0]
    )
    head = rows[0]
    head.text(0.06, 0.7, say("report.title"), fontsize=20, weight="bold")
    subtitle = say(
        "report.subtitle",
        community=report["community"],
        scope=say.scope(report),
        month=say.month(report["month"]),
    )
    head.text(0.06, 0.4, subtitle, fontsize=12)
    period = say(
        "report.period",
        since=say.day(report["since"], report["timezone"]),
        until=say.day(report["until"] - timedelta(seconds=1), report["timezone"]),  # its last day
        timezone=report["timezone"],
    )
    generated = say("report.generated", at=say.moment(report["generated_at"], report["timezone"]))
    head.text(0.06, 0.15, f"{period} · {generated}", fontsize=9, color=charts.SOFT)
    return page, list(rows[1:])


def _table(box: "SubFigure", title: str, header: list[str], rows: list[list[str]]) -> None:
    axes = box.subplots()
    axes.set_axis_off()
    axes.set_title(title, loc="left", fontsize=13)
    if not rows:
        return
    table = axes.table(cellText=rows, colLabels=header, loc="upper left", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(9.5)
    table.scale(1, 1.35)
    for (row, _), cell in table.get_celld().items():
        cell.set_edgecolor("#c8c8c8")
        if row == 0:
            cell.set_text_props(weight="bold")


def _tables(report: dict[str, Any], say: Say) -> "Figure":
    figures = report["figures"]
    page, (top, middle, bottom, left, right) = _page(report, say, heights=[1.2, 1.2, 1.0, 1.0, 1.3])
    summary = export.summary_rows(figures, say)
    summary.append([say("figure.drills"), str(report["drills"]["total"])])
    _table(top, say("section.summary"), [say("csv.item"), say("figure.count")], summary)
    _table(
        middle,
        say("section.response"),
        [say(k) for k in ("response.what", "response.count", "response.median", "response.p90")],
        export.response_rows(figures, say),
    )
    _table(
        bottom,
        say("section.escalations"),
        [say(k) for k in ("level.what", "level.events", "level.alarms")],
        export.escalation_rows(figures, say),
    )
    _table(
        left,
        say("section.delivery"),
        [say("channel.what")] + [say(f"delivery.{p}") for p in (*export.DELIVERY_PARTS, "rate")],
        export.delivery_rows(figures, say),
    )
    _table(
        right,
        say("section.unreachable"),
        [say("csv.item"), say("figure.count")],
        export.unreachable_rows(report["unreachable"], say),
    )
    return page


def _charted(report: dict[str, Any], say: Say, names: tuple[str, ...]) -> "Figure":
    page, boxes = _page(report, say, heights=[3.0] * len(names))
    for name, box in zip(names, boxes, strict=True):
        charts.paint(name, box.subplots(), report["figures"], say)
        box.subplots_adjust(left=0.22, right=0.95, top=0.88, bottom=0.14)
    return page


def _charts_one(report: dict[str, Any], say: Say) -> "Figure":
    return _charted(report, say, ("by_type", "by_hour", "response"))


def _charts_two(report: dict[str, Any], say: Say) -> "Figure":
    return _charted(report, say, ("by_grid", "by_group", "delivery"))


def _drills(report: dict[str, Any], say: Say) -> "Figure":
    drills = report["drills"]
    page, (top, middle, bottom) = _page(report, say, heights=[1.4, 1.6, 3.0])
    rows = [[say(f"type.{k}"), str(n)] for k, n in drills["by_type"].items() if n]
    rows.insert(0, [say("figure.drills"), str(drills["total"])])
    _table(top, f"{say('section.drills')} — {say('report.drills_apart')}", ["", ""], rows)
    _table(
        middle,
        f"{say('section.drills')} · {say('section.response')}",
        [say(k) for k in ("response.what", "response.count", "response.median", "response.p90")],
        export.response_rows(drills, say),
    )
    addresses = report["unreachable"]["addresses"]
    box = bottom.subplots()
    box.set_axis_off()
    box.set_title(f"{say('section.unreachable')} ({len(addresses)})", loc="left", fontsize=13)
    box.text(0, 0.95, say("unreachable.how"), fontsize=9, va="top", wrap=True)
    shown = addresses[:120]
    lines = ["   ".join(shown[i : i + 8]) for i in range(0, len(shown), 8)]
    if len(addresses) > len(shown):
        lines.append(f"… +{len(addresses) - len(shown)}")
    box.text(0, 0.85, "\n".join(lines), fontsize=8.5, va="top", family="monospace")
    return page
