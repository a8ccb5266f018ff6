"""The HTML report of a finished build: what rendering it costs the build, its size, and how
long headless Chromium takes to load it.

    .venv/bin/python bench/html_report.py --home .tessy --run-id RUN_ID [--loads 5]
        [--screenshot docs/html-report.png]  # and docs/html-report-samples.png

A build renders the page twice (the report step, then the publish step with the version), in
a process that has already imported DuckDB and pandas: the cost added to the build is the
import of altair and vl-convert, and two renders, the first of which starts vl-convert's
engine. It is set against the build's wall time as the `runs` table records it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# The CDP client lives with the tests, which open the report the same way.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

# What every build has imported before its report step (pandas, great-expectations, the
# markdown report), so that the import timed below is only what the HTML report adds.
import pandas  # noqa: F401

import tessy_factory.curate.quality
import tessy_factory.report  # noqa: F401
from tessy_factory.db import connect, sql
from tessy_factory.home import FactoryHome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args()
    home = FactoryHome.resolve(args.home, create=False)

    started = time.perf_counter()
    from tessy_factory.report_html.data import Publication, gather
    from tessy_factory.report_html.render import render

    imported = time.perf_counter() - started
    with connect(home.database, read_only=True) as con:
        release = con.execute(sql("release_of_run"), [args.run_id]).fetchone()
        started_at, finished_at, *_ = con.execute(
            sql("report_timings"), {"run_id": args.run_id}
        ).fetchone()
    if release is None or finished_at is None:
        sys.exit(f"error: run {args.run_id!r} is not a finished, published build")
    publication = Publication(release[1], release[2])
    renders, page = [], ""
    # As the build: before the version is chosen, then naming it.
    for named in (None, publication):
        started = time.perf_counter()
        with connect(home.database, read_only=True) as con:
            data = gather(con, args.run_id, named, releasing=True)
        page = render(data)
        renders.append(time.perf_counter() - started)
    target = home.reports / f"{args.run_id}.bench.html"
    target.write_text(page, encoding="utf-8")
    loads = _loads(target, args.loads, args.screenshot)
    target.unlink()

    build_s = (finished_at - started_at).total_seconds()
    added = imported + sum(renders)
    print(f"build wall time        {build_s:8.1f} s")
    print(f"import altair/vl-conv. {imported:8.2f} s")
    print(f"render 1 (cold), 2     {renders[0]:8.2f} s {renders[1]:6.2f} s")
    print(f"added to the build     {added:8.2f} s ({added / build_s:.1%})")
    print(f"page size              {len(page.encode()) / 1e6:8.3f} MB")
    print(f"Chromium load, median  {statistics.median(loads):8.2f} s of {len(loads)}")


def _loads(page: Path, times: int, screenshot: Path | None) -> list[float]:
    """Seconds from navigation to the load event, each in a fresh browser."""
    from chromium import headless_page

    seconds = []
    for attempt in range(times):
        with headless_page() as tab:
            load = tab.load(page.as_uri())
            if load.errors:
                sys.exit(f"error: the page logged errors: {load.errors}")
            seconds.append(load.load_s)
            if screenshot is not None and attempt == 0:
                tab.screenshot(screenshot, width=1100, height=1400)
                samples = screenshot.with_stem(f"{screenshot.stem}-samples")
                tab.screenshot_sample(samples, width=1100, height=700)
    return seconds


if __name__ == "__main__":
    main()
