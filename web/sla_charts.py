"""The dashboard's SLA chart: met and breached per metric (services/reports/sla.py), each bar a
link to its cases."""

from __future__ import annotations

from services.reports.sla import SlaSummary
from web.charts import BarChart, BarItem, bar_chart
from web.i18n import format_number, gettext
from web.report_links import Links


def sla_chart(s: SlaSummary, links: Links) -> BarChart:
    items = [
        BarItem(label, value, href, text=format_number(value), style=style)
        for label, value, href, style in (
            (
                gettext("First response met"),
                s.first_response.met,
                links.cases(response="met"),
                0,
            ),
            (
                gettext("First response breached"),
                s.first_response.breached,
                links.cases(response="breached"),
                1,
            ),
            (gettext("Resolution met"), s.resolution.met, links.cases(resolution="met"), 0),
            (
                gettext("Resolution breached"),
                s.resolution.breached,
                links.cases(resolution="breached"),
                1,
            ),
        )
    ]
    return bar_chart("chart-sla", gettext("Deadlines met and breached"), items, label_width=190)
