"""The report's charts, drawn by matplotlib: SVG for the page, the same figures in the PDF.

matplotlib is imported here, on the first chart, never by the press path. The labels are
Chinese, so a CJK font must be installed (Debian's fonts-noto-cjk); without it a chart is
refused with a sentence saying so rather than drawn with empty boxes.
"""

import io
from collections.abc import Callable
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from server.errors import Unavailable
from server.reports.words import Say

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "WenQuanYi Zen Hei")
NO_FONT = (
    "no CJK font is installed, so the report's Chinese cannot be drawn: install Debian's "
    "fonts-noto-cjk (apt-get install fonts-noto-cjk) and restart the service"
)
INK, ACCENT, SOFT, BAD = "#1a1a1a", "#b3261e", "#8c9bab", "#6d4c41"


class Chart(StrEnum):
    """The charts of a report, in the order the page and the PDF show them."""

    BY_TYPE = "by_type"
    BY_HOUR = "by_hour"
    BY_GRID = "by_grid"
    BY_GROUP = "by_group"
    RESPONSE = "response"
    DELIVERY = "delivery"


CHARTS = tuple(chart.value for chart in Chart)


@cache
def cjk_font() -> str:
    """The family of the CJK font charts are drawn in; Unavailable when none is installed."""
    from matplotlib import font_manager

    for family in CJK_FAMILIES:
        try:
            font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        except ValueError:
            continue
        return family
    raise Unavailable(NO_FONT)


def style() -> "dict[RcKeyType, Any]":
    """The rc settings every chart is drawn and saved under (the CJK font first)."""
    return {
        "font.family": [cjk_font(), "DejaVu Sans"],
        "font.size": 11,
        "axes.edgecolor": INK,
        "axes.labelcolor": INK,
        "xtick.color": INK,
        "ytick.color": INK,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.fonttype": "path",  # the page needs no font of its own
        "svg.hashsalt": "tenwatch",  # the same figures draw the same bytes
    }


def draw(name: str, report: dict[str, Any], say: Say, *, width: float = 7.0) -> "Figure":
    """One chart of the report's (real alarms') figures, as a matplotlib Figure."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure  # a bare Figure: no pyplot, no GUI backend

    with rc_context(style()):
        figure = Figure(figsize=(width, width * 0.5), layout="constrained")
        paint(name, figure.subplots(), report["figures"], say)
    return figure


def paint(name: str, axes: "Axes", figures: dict[str, Any], say: Say) -> None:
    """Draw one chart of some figures (real alarms' or drills') on axes, with its title."""
    _PAINTERS[name](axes, figures, say)
    axes.set_title(say(f"section.{name}"), loc="left", fontsize=13, color=INK)


def svg(name: str, report: dict[str, Any], say: Say) -> bytes:
    """One chart as SVG (its text drawn as paths)."""
    from matplotlib import rc_context

    figure = draw(name, report, say)
    out = io.BytesIO()
    with rc_context(style()):
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def _whole(axis: "Axis") -> None:
    """Ticks on whole numbers only (counts)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _bars(axes: "Axes", labels: list[str], values: list[int], *, horizontal: bool = False) -> None:
    if horizontal:
        bars = axes.barh(labels[::-1], values[::-1], color=ACCENT)
    else:
        bars = axes.bar(labels, values, color=ACCENT)
    axes.bar_label(bars, padding=2, fontsize=10)
    _whole(axes.xaxis if horizontal else axes.yaxis)


def _by_type(axes: "Axes", figures: dict[str, Any], say: Say) -> None:
    kinds = list(figures["by_type"])
    _bars(axes, [say(f"type.{k}") for k in kinds], [figures["by_type"][k] for k in kinds])


def _by_hour(axes: "Axes", figures: dict[str, Any], say: Say) -> None:
    hours = figures["by_hour"]
    axes.bar(range(24), hours, color=ACCENT)
    axes.set_xticks(range(0, 24, 2))
    axes.set_xlabel(say("figure.hour"))
    _whole(axes.yaxis)


def _ranked(key: str, top: int) -> Callable[["Axes", dict[str, Any], Say], None]:
    def paint(axes: "Axes", figures: dict[str, Any], say: Say) -> None:
        rows = figures[key][:top]
        if not rows:
            axes.text(0.5, 0.5, say("report.empty"), ha="center", transform=axes.transAxes)
            axes.set_axis_off()
            return
        _bars(axes, [say.name(r) for r in rows], [r["count"] for r in rows], horizontal=True)

    return paint


def _response(axes: "Axes", figures: dict[str, Any], say: Say) -> None:
    steps = list(figures["response"])
    labels = [say(f"response.{s}") for s in steps]
    for offset, (key, colour) in enumerate((("median_seconds", ACCENT), ("p90_seconds", SOFT))):
        minutes = [(figures["response"][s][key] or 0) / 60 for s in steps]
        positions = [i + (offset - 0.5) * 0.38 for i in range(len(steps))]
        name = say("response.median" if offset == 0 else "response.p90")
        bars = axes.bar(positions, minutes, width=0.38, color=colour, label=name)
        axes.bar_label(bars, labels=[f"{m:.1f}" for m in minutes], padding=2, fontsize=9)
    axes.set_xticks(range(len(steps)), labels)
    axes.set_ylabel(say("figure.minutes"))
    axes.legend(frameon=False)


def _delivery(axes: "Axes", figures: dict[str, Any], say: Say) -> None:
    channels = list(figures["delivery"])
    labels = [say(f"channel.{c}") for c in channels]
    left = [0] * len(channels)
    for part, colour in (("delivered", ACCENT), ("sent", SOFT), ("failed", BAD)):
        values = [figures["delivery"][c][part] for c in channels]
        axes.barh(labels, values, left=left, color=colour, label=say(f"delivery.{part}"))
        left = [a + b for a, b in zip(left, values, strict=True)]
    _whole(axes.xaxis)
    axes.invert_yaxis()
    axes.legend(frameon=False, ncols=3, loc="lower right")


_PAINTERS: dict[str, Callable[["Axes", dict[str, Any], Say], None]] = {
    "by_type": _by_type,
    "by_hour": _by_hour,
    "by_grid": _ranked("by_grid", 12),
    "by_group": _ranked("by_group", 15),
    "response": _response,
    "delivery": _delivery,
}
