"""Geometry for the dashboard's server-rendered SVG charts (the template draws them), and the
dashboard's own five charts (`dashboard_charts`).

Charts never rely on colour alone: every bar carries its label and value as text and a fill
pattern of its own; trend series differ by dash style and marker shape and are named in a legend.
Each bar and each point is a link (drill-down) with a <title> for pointer and screen-reader users.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from domain.vocabulary import CaseStatus
from models.reports import ReportSummary
from services.reports import STATUS_LABELS
from web.i18n import N_, format_day_month, format_number, format_percent, gettext, ngettext

# The reports' age buckets (services.reports.filters), for the catalog.
AGE_LABELS = (N_("Under 1 day"), N_("1 to 3 days"), N_("3 to 5 days"), N_("5 days or more"))

if TYPE_CHECKING:
    from web.report_links import Links

# Fill colour and pattern per series / category. Colours are AA-contrast on white and also
# distinguishable for the common colour-vision deficiencies; patterns make them redundant.
PALETTE = ("#0b5cad", "#116329", "#a40e26", "#57606a", "#7d4e00", "#6639ba", "#0a6e7a", "#953800")
PATTERNS = ("solid", "stripes", "dots", "cross", "hlines", "vlines", "checks", "zigzag")
STATUS_STYLE = {status: n for n, status in enumerate(CaseStatus)}


@dataclass
class Swatch:
    """One fill: `<pattern id=...>` made of a colour and a pattern kind."""

    id: str
    colour: str
    kind: str


def swatches(prefix: str, count: int) -> list[Swatch]:
    return [
        Swatch(f"{prefix}-p{i}", PALETTE[i % len(PALETTE)], PATTERNS[i % len(PATTERNS)])
        for i in range(count)
    ]


@dataclass
class Bar:
    label: str
    value: int
    text: str
    href: str
    title: str
    y: float
    width: float
    swatch: Swatch


@dataclass
class BarChart:
    id: str
    title: str
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: list[Bar]
    swatches: list[Swatch]
    empty: bool


@dataclass
class BarItem:
    label: str
    value: int
    href: str
    text: str | None = None
    title: str | None = None
    style: int | None = None


def bar_chart(
    chart_id: str,
    title: str,
    items: list[BarItem],
    *,
    width: int = 480,
    label_width: int = 150,
    row: int = 30,
) -> BarChart:
    """Horizontal bars scaled to the largest value, room on the right for the value's text."""
    value_room = 90
    track = width - label_width - value_room
    biggest = max((i.value for i in items), default=0)
    pads = swatches(chart_id, len(PALETTE))
    bars = []
    for n, item in enumerate(items):
        style = item.style if item.style is not None else n
        length = track * item.value / biggest if biggest else 0.0
        bars.append(
            Bar(
                label=item.label,
                value=item.value,
                text=item.text if item.text is not None else str(item.value),
                href=item.href,
                title=item.title or f"{item.label}: {item.text or item.value}",
                y=n * row + 6,
                width=round(max(length, 2.0 if item.value else 0.0), 1),
                swatch=pads[style % len(pads)],
            )
        )
    return BarChart(
        id=chart_id,
        title=title,
        width=width,
        height=max(len(items), 1) * row + 8,
        label_width=label_width,
        bar_height=row - 10,
        bars=bars,
        swatches=pads,
        empty=not items or biggest == 0,
    )


@dataclass
class Point:
    x: float
    y: float
    value: int
    title: str
    href: str


@dataclass
class Series:
    name: str
    dash: str  # stroke-dasharray ("" = solid)
    marker: str  # circle | square | diamond
    colour: str
    points: list[Point] = field(default_factory=list)

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass
class Tick:
    at: float
    text: str


@dataclass
class LineChart:
    id: str
    title: str
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    series: list[Series]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    empty: bool


@dataclass
class SeriesSpec:
    name: str
    values: list[int]
    hrefs: list[str]


SERIES_STYLE = (
    ("", "circle", PALETTE[0]),
    ("6 4", "square", PALETTE[3]),
    ("2 3", "diamond", PALETTE[2]),
)


def nice_max(value: int) -> tuple[int, int]:
    """A round axis maximum >= value and its tick step (about four ticks)."""
    if value <= 4:
        return 4, 1
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    step = max(1, math.ceil(step))
    return int(math.ceil(value / step) * step), step


def line_chart(
    chart_id: str,
    title: str,
    labels: list[str],
    series: list[SeriesSpec],
    *,
    width: int = 720,
    height: int = 260,
) -> LineChart:
    left, top, right, bottom = 48, 16, width - 16, height - 40
    biggest = max((v for s in series for v in s.values), default=0)
    top_value, step = nice_max(biggest)
    n = len(labels)

    def x(i: int) -> float:
        return left + (right - left) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: int) -> float:
        return bottom - (bottom - top) * v / top_value

    out = []
    for spec, (dash, marker, colour) in zip(series, SERIES_STYLE, strict=False):
        out.append(
            Series(
                name=spec.name,
                dash=dash,
                marker=marker,
                colour=colour,
                points=[
                    Point(x(i), y(v), v, point_title(labels[i], v, spec.name), spec.hrefs[i])
                    for i, v in enumerate(spec.values)
                ],
            )
        )
    every = max(1, math.ceil(n / 8))
    x_ticks = [Tick(x(i), labels[i]) for i in range(0, n, every)]
    y_ticks = [Tick(y(v), str(v)) for v in range(0, top_value + 1, step)]
    return LineChart(
        id=chart_id,
        title=title,
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        series=out,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        empty=biggest == 0,
    )


def point_title(label: str, value: int, series: str) -> str:
    """A trend point's <title>: "01 Nov: 3 opened" (the series' name, in lower case)."""
    return gettext(
        "%(label)s: %(value)s %(series)s", label=label, value=value, series=series.lower()
    )


def dashboard_charts(s: ReportSummary, links: Links) -> dict[str, Any]:
    """The dashboard's five charts; every bar and point links to its cases."""
    age_items = [
        BarItem(gettext(r.label), r.open, links.cases(age=r.key), text=format_number(r.open))
        for r in s.open_by_age
    ]
    status_items = [
        BarItem(
            gettext(STATUS_LABELS[k]),
            getattr(s.cases, k),
            links.cases(status=k),
            text=format_number(getattr(s.cases, k)),
            style=STATUS_STYLE[k],
        )
        for k in CaseStatus
    ]
    channel_items = [
        BarItem(
            gettext(r.label), r.count, links.where("channel", r.key), text=format_number(r.count)
        )
        for r in s.by_channel
    ]
    cause_items = [
        BarItem(
            r.root_cause,
            r.closed,
            links.cause(r.root_cause, status=CaseStatus.CLOSED),
            text=gettext(
                "%(closed)s (%(pct)s)",
                closed=format_number(r.closed),
                pct=format_percent(r.pct_of_closed),
            )
            if r.pct_of_closed is not None
            else "",
            title=ngettext(
                "%(cause)s: %(num)d closed case, %(resolved)s resolved, %(unresolved)s unresolved",
                "%(cause)s: %(num)d closed cases, %(resolved)s resolved, %(unresolved)s unresolved",
                r.closed,
                cause=r.root_cause,
                resolved=r.resolved,
                unresolved=r.unresolved,
            ),
        )
        for r in s.root_causes[:12]
    ]
    points = s.trend.points
    labels = [
        format_day_month(p.start)
        if s.trend.bucket == "day"
        else gettext("wk %(day)s", day=format_day_month(p.start))
        for p in points
    ]
    trend = line_chart(
        "chart-trend",
        gettext("Cases opened per %(bucket)s", bucket=gettext(s.trend.bucket)),
        labels,
        [
            SeriesSpec(
                gettext("Opened"), [p.opened for p in points], [links.period(p) for p in points]
            ),
            SeriesSpec(
                gettext("Closed"),
                [p.closed for p in points],
                [links.period(p, status=CaseStatus.CLOSED) for p in points],
            ),
            SeriesSpec(
                gettext("Went overdue"),
                [p.went_overdue for p in points],
                [links.period(p, overdue=True) for p in points],
            ),
        ],
    )
    return {
        "ages": bar_chart("chart-age", gettext("Open cases by age"), age_items),
        "status": bar_chart("chart-status", gettext("Cases by status"), status_items),
        "channel": bar_chart("chart-channel", gettext("Cases by channel"), channel_items),
        "causes": bar_chart("chart-causes", gettext("Root causes of closed cases"), cause_items),
        "trend": trend,
    }
