"""The report's charts: altair specs rendered to SVG by vl-convert, in-process and offline.

SVG, not the Vega JavaScript: the page then needs no script and no network, and opens the
same from a file, a dataset repo or a mail attachment. A chart with no data is None; the page
says so in its place.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd
import vl_convert as vlc

from tessy_factory.report import ModeFigures

# The style metrics drawn, with their titles: the columns of `sample_metrics`.
METRICS = {
    "phrase_per_1k_tokens": "Style phrases / 1k tokens",
    "teacher_token_share": "Teacher token share",
    "n_switches": "Author switches",
    "tfidf_to_student": "TF-IDF to student",
    "student_nll": "Student NLL / token",
    "thinking_tokens": "Thinking tokens",
}
WIDTH = 560
PANEL = 240


def svg(chart: alt.TopLevelMixin) -> str:
    """The chart as an SVG document; `allowed_base_urls=[]` refuses any data from the network.

    Without altair's 5,000-row limit, which spares a browser from drawing the data: here
    vl-convert draws it in the build and the page holds only the SVG. A build of 336 demo
    prompts in three modes (987 measured rows, 5,593 values in the style metrics' box plots)
    failed its report step on it."""
    with alt.data_transformers.disable_max_rows():
        spec = chart.to_dict()
    return vlc.vegalite_to_svg(spec, allowed_base_urls=[])


def funnel_chart(counts: dict[str, int]) -> str:
    """Rows at each stage, in pipeline order."""
    frame = pd.DataFrame(
        {"stage": [stage.replace("_", " ") for stage in counts], "rows": list(counts.values())}
    )
    bars = alt.Chart(frame).encode(
        x=alt.X("rows:Q", title="rows"), y=alt.Y("stage:N", sort=None, title=None)
    )
    labels = bars.mark_text(align="left", dx=3).encode(text="rows:Q")
    return svg((bars.mark_bar() + labels).properties(width=WIDTH, title="Drop funnel"))


def pass_rate_chart(modes: Sequence[ModeFigures]) -> str | None:
    """Accepted over all sample slots, per generation mode."""
    if not modes:
        return None
    frame = pd.DataFrame(
        {"mode": [f.mode for f in modes], "pass rate": [f.pass_rate for f in modes]}
    )
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("pass rate:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("mode:N", title=None),
            color=alt.Color("mode:N", legend=None),
        )
    )
    return svg(chart.properties(width=WIDTH, title="Pass rate per mode"))


def distributions_chart(rows: pd.DataFrame) -> str | None:
    """Each style metric's distribution per mode, over every measured row of the run."""
    present = [metric for metric in METRICS if metric in rows and rows[metric].notna().any()]
    if rows.empty or not present:
        return None
    long = rows.melt(id_vars=["mode"], value_vars=present, var_name="metric").dropna()
    long["metric"] = long["metric"].map(METRICS)
    chart = (
        alt.Chart(long)
        .mark_boxplot(extent="min-max")
        .encode(
            x=alt.X("value:Q", title=None),
            y=alt.Y("mode:N", title=None),
            color=alt.Color("mode:N", legend=None),
        )
        .properties(width=PANEL, height=90)
        .facet(facet=alt.Facet("metric:N", title=None), columns=2)
        .resolve_scale(x="independent")
    )
    return svg(chart.properties(title="Style metrics per mode (all measured rows)"))


def trend_chart(trend: pd.DataFrame) -> str | None:
    """The medians of the published rows per version of the dataset, one line per mode."""
    present = [metric for metric in METRICS if metric in trend and trend[metric].notna().any()]
    if trend.empty:
        return None
    frame = trend.copy()
    # The quantile lists hold [p10, median, p90]: the median is drawn.
    for column in ("student_nll", "thinking_tokens"):
        if column in present:
            frame[column] = frame[column].map(lambda q: q[1] if q is not None else None)
    long = frame.melt(
        id_vars=["version", "mode"], value_vars=["rows", *present], var_name="metric"
    ).dropna()
    long["metric"] = long["metric"].map({"rows": "Published rows", **METRICS})
    order = list(dict.fromkeys(frame["version"]))
    chart = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("version:O", sort=order, title=None),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("mode:N"),
        )
        .properties(width=PANEL, height=120)
        .facet(facet=alt.Facet("metric:N", title=None), columns=2)
        .resolve_scale(y="independent")
    )
    return svg(chart.properties(title="Trend across versions (medians of published rows)"))


def verdicts_chart(verdicts: pd.DataFrame) -> str | None:
    """How many generated samples got each verdict, stacked by mode."""
    if verdicts.empty:
        return None
    chart = (
        alt.Chart(verdicts)
        .mark_bar()
        .encode(
            x=alt.X("sum(n):Q", title="samples"),
            y=alt.Y("verdict:N", sort="-x", title=None),
            color=alt.Color("mode:N"),
        )
    )
    return svg(chart.properties(width=WIDTH, title="Verdicts"))


def drops_chart(drops: pd.DataFrame) -> str | None:
    """Rows dropped or flagged per reason."""
    if drops.empty:
        return None
    frame = drops[["reason", "n"]].drop_duplicates()
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(x=alt.X("n:Q", title="rows"), y=alt.Y("reason:N", sort="-x", title=None))
    )
    return svg(chart.properties(width=WIDTH, title="Drop reasons"))
