"""The HTML report page: the data of `data.ReportData` and the charts, through a Jinja
template that escapes every value (traces hold `<`, `</think>` and code)."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from tessy_factory.home import FactoryHome
from tessy_factory.report_html import charts
from tessy_factory.report_html.data import ReportData

_ENV = Environment(
    loader=PackageLoader("tessy_factory.report_html", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(data: ReportData) -> str:
    """The whole report as one self-contained HTML page."""
    figures = {
        "funnel": charts.funnel_chart(data.funnel),
        "pass-rate": charts.pass_rate_chart(data.modes),
        "distributions": charts.distributions_chart(data.metric_rows),
        "trend": charts.trend_chart(data.trend),
        "verdicts": charts.verdicts_chart(data.verdicts),
        "drops": charts.drops_chart(data.drops),
    }
    # The SVG comes from vl-convert, which escapes the data it draws; it goes in as markup.
    shown = {name: Markup(svg) if svg else None for name, svg in figures.items()}
    return _ENV.get_template("report.html.j2").render(
        data=data,
        charts=shown,
        # None, not NaN, where a drop has no value: the template shows only what is there.
        drops=data.drops.astype(object).where(data.drops.notna(), None).to_dict("records"),
        config=json.dumps(data.config, indent=2, sort_keys=True),
        models=json.dumps(data.models, indent=2, sort_keys=True),
    )


def html_path(home: FactoryHome, run_id: str) -> Path:
    """Where the home keeps the HTML report of `run_id`."""
    return home.reports / f"{run_id}.html"
