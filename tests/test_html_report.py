"""The HTML audit report of two builds of one dataset, opened in headless Chromium: it loads
nothing but itself, logs no error, draws every chart, colours the trace spans by author,
shows the trend of both versions, names the version it was published as, and is published
beside the data. Real builds under Prefect's test harness, real Chromium over CDP."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.request import urlopen

import pytest
from chromium import chromium, headless_page
from config_file import config_file
from markupsafe import escape
from typer.testing import CliRunner

from flows.build import build_dataset
from tasks.publishing import publish
from tessy_factory.cli import app
from tessy_factory.config import BuildConfig
from tessy_factory.curate.metrics_summary import metrics_by_version
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome
from tessy_factory.publish.version import HTML_REPORT_FILE

CHARTS = {"funnel", "pass-rate", "distributions", "trend", "verdicts", "drops"}
ROOT = Path(__file__).resolve().parent.parent


def config(home: Path, count: int) -> BuildConfig:
    return BuildConfig.model_validate(
        {
            "home": str(home),
            "sources": [{"kind": "demo", "count": count, "seed": 2026}],
            "generation": {
                "modes": ["tessy", "teacher-only"],
                "max_total_tokens": 512,
                "answer_max_tokens": 128,
            },
            "curation": {"min_rows_to_publish": 0},
        }
    )


@pytest.fixture(scope="module")
def builds(tmp_path_factory, models_root, prefect_harness):
    """Two nights of one dataset: the second draws the first's two problems and one more."""
    home = tmp_path_factory.mktemp("html") / "home"
    home.mkdir()
    (home / "models").symlink_to(models_root, target_is_directory=True)
    first = build_dataset(config_file(config(home, count=2)), run_id="night-1")
    second = build_dataset(config_file(config(home, count=3)), run_id="night-2")
    return FactoryHome.resolve(home), first, second


@pytest.fixture(scope="module")
def opened(builds, request):
    """The second build's report loaded in Chromium: the load, and what the page shows."""
    if chromium() is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    home, _, _ = builds
    report = home.reports / "night-2.html"
    with headless_page() as page:
        load = page.load(report.as_uri())
        shown = page.evaluate(SHOWN)
        artifacts = Path(request.config.cache.mkdir("artifacts"))
        page.screenshot(artifacts / "html-report.png", width=1100, height=1400)
        page.screenshot_sample(artifacts / "html-report-samples.png", width=1100, height=700)
    return load, shown


# Per chart: its drawn marks and size; per author: the background of its spans.
SHOWN = """(() => {
    const charts = {};
    for (const figure of document.querySelectorAll('figure[data-chart]')) {
        const svg = figure.querySelector('svg');
        const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
        charts[figure.dataset.chart] = {
            marks: svg ? svg.querySelectorAll('path, rect, line').length : 0,
            width: box.width, height: box.height,
        };
    }
    const colours = {};
    for (const author of ['teacher', 'student']) {
        const span = document.querySelector('pre.trace span.author-' + author);
        colours[author] = span ? getComputedStyle(span).backgroundColor : null;
    }
    const trend = 'figure[data-chart=trend] ';
    const points = [...document.querySelectorAll(trend + 'g.mark-symbol.role-mark')]
        .map(group => group.querySelectorAll('path').length);
    const labels = [...document.querySelectorAll(trend + 'g.role-axis-label text')]
        .map(text => text.textContent).filter(text => text.startsWith('v'));
    const versions = [...new Set(labels)];
    return {charts, colours, points, versions, title: document.title};
})()"""


def test_the_report_loads_only_itself_and_logs_no_error(opened) -> None:
    load, shown = opened
    assert load.errors == []
    assert load.requests and all(url.startswith("file://") for url in load.requests)
    assert shown["title"] == "Build report: night-2"


def test_every_chart_is_drawn(opened) -> None:
    _, shown = opened
    assert set(shown["charts"]) == CHARTS
    for name, chart in shown["charts"].items():
        assert chart["marks"] > 0 and chart["width"] > 0 and chart["height"] > 0, name


def test_the_sample_browser_colours_teacher_and_student_spans(opened) -> None:
    _, shown = opened
    teacher, student = shown["colours"]["teacher"], shown["colours"]["student"]
    transparent = {None, "rgba(0, 0, 0, 0)", "transparent"}
    assert teacher not in transparent and student not in transparent and teacher != student


def test_two_builds_give_a_trend_with_two_points(builds, opened) -> None:
    home, first, second = builds
    _, shown = opened
    assert shown["versions"] == [first.version, second.version]
    with connect(home.database) as con:
        groups = metrics_by_version(con, config(home.root, 1).publish.repo_id)
    assert [group["version"] for group in groups if group["mode"] == "tessy"] == [
        first.version,
        second.version,
    ]
    # One group of points per panel; the published rows' has one per version and mode.
    assert max(shown["points"]) == len(groups)


def test_the_published_version_carries_the_report_naming_it(builds) -> None:
    home, first, second = builds
    for build in (first, second):
        page = (home.reports / f"{build.run_id}.html").read_text(encoding="utf-8")
        published = (Path(build.dataset) / HTML_REPORT_FILE).read_text(encoding="utf-8")
        assert f"version <b>{build.version}</b>" in page
        assert f"published at <code>{build.dataset}</code>" in page
        # The local hub's working tree holds the latest version's.
        if build is second:
            assert published == page


def test_the_report_escapes_the_traces_and_lists_every_quality_result(builds) -> None:
    home, _, second = builds
    page = (home.reports / f"{second.run_id}.html").read_text(encoding="utf-8")
    # Every trace holds think markers and code; none reaches the page as markup.
    assert "&lt;/think&gt;" in page and "</think>" not in page and "<think>" not in page
    with connect(home.database) as con:
        checks = con.execute(
            "SELECT description, success FROM quality_results WHERE run_id = ?", [second.run_id]
        ).fetchall()
    assert len(checks) >= 9 and all(success for _, success in checks)
    table = section(page, "quality")
    assert table.count("<tr><td>") == len(checks)
    assert all(escape(description) in table for description, _ in checks)


def test_the_drop_reasons_show_example_rows(builds) -> None:
    home, first, second = builds
    page = (home.reports / f"{second.run_id}.html").read_text(encoding="utf-8")
    drops = section(page, "drops")
    # The first night's rows come back the second night and are dropped as near-duplicates
    # of the published version.
    heading = re.search(r"<h3>near-duplicate \((\d+) rows\)</h3>", drops)
    assert heading and int(heading.group(1)) >= 1
    assert f"({first.version})" in drops


def test_a_resumed_publish_writes_the_report_again_naming_the_release(builds) -> None:
    home, _, second = builds
    report = home.reports / f"{second.run_id}.html"
    before = report.read_text(encoding="utf-8")
    report.unlink()
    release = publish(second.run_id, config(home.root, count=3), home, "# resumed\n")
    after = report.read_text(encoding="utf-8")
    assert release.version == second.version
    # The same release and the same build, written again (only when, and the run's end, differ).
    assert f"version <b>{second.version}</b>, published at <code>{second.dataset}</code>" in after
    assert section(after, "funnel", "build") == section(before, "funnel", "build")


def section(page: str, start: str, end: str | None = None) -> str:
    """The page from the element with id `start` to the heading with id `end` (else to the
    next heading)."""
    rest = page.split(f'id="{start}"')[1]
    return rest.split(f'<h2 id="{end}"' if end else "<h2")[0]


def test_tessy_report_html_prints_the_path_and_serve_serves_it(builds) -> None:
    home, _, second = builds
    report = home.reports / f"{second.run_id}.html"
    printed = CliRunner().invoke(app, ["report", second.run_id, "--html", "--home", str(home.root)])
    assert printed.exit_code == 0 and printed.output.strip() == str(report)
    command = [sys.executable, "-m", "tessy_factory.cli", "report", second.run_id, "--serve"]
    server = subprocess.Popen(
        [*command, "--home", str(home.root)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with urlopen(url, timeout=30) as response:
            assert response.read() == report.read_bytes()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_chart_of_more_rows_than_altairs_browser_limit_is_drawn() -> None:
    import pandas as pd

    from tessy_factory.report_html.charts import distributions_chart

    # 1,000 rows of six metrics: 6,000 values, past altair's 5,000 (a 336-prompt build
    # failed its report step on it).
    rows = pd.DataFrame(
        {
            "mode": ["tessy", "teacher-only"] * 500,
            **{
                metric: [float(i % 17) for i in range(1000)]
                for metric in (
                    "phrase_per_1k_tokens",
                    "teacher_token_share",
                    "n_switches",
                    "tfidf_to_student",
                    "student_nll",
                    "thinking_tokens",
                )
            },
        }
    )
    assert distributions_chart(rows).startswith("<svg")
