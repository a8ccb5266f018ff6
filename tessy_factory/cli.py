"""The `tessy` command line: run builds, list them, show reports, build miniature models,
probe a dataset version downstream."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import quote

import duckdb
import typer
from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from tessy_factory.config import PromptSource, load_config
from tessy_factory.curate.funnel import funnel
from tessy_factory.db import DatabaseBusy, connect, sql
from tessy_factory.home import FactoryHome
from tessy_factory.miniature.styles import DEFAULT_WORLD, WORLDS
from tessy_factory.owner import recorded_owner, shown_status
from tessy_factory.predictors.config import load_training_config
from tessy_factory.predictors.registry import registered
from tessy_factory.probe.config import load_probe_config

app = typer.Typer(
    help="Tessy Factory: synthesise student-consistent SFT data.", no_args_is_help=True
)
models_app = typer.Typer(help="Manage the models a factory uses.", no_args_is_help=True)
app.add_typer(models_app, name="models")
predictors_app = typer.Typer(help="Train and list boundary predictors.", no_args_is_help=True)
app.add_typer(predictors_app, name="predictors")
console = Console()

# Prefect reads its settings once, when first imported, so these defaults are set before
# any command imports it. A fresh PREFECT_HOME migrates its database on the first start,
# which took over Prefect's 20 s ephemeral-server default on a loaded 2-core CI machine.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


@app.callback()
def _prefect_defaults() -> None:
    """Set Prefect's defaults for every command, unless the environment sets them."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


HomeOption = Annotated[
    Path | None, typer.Option("--home", help="Factory home (default: $TESSY_HOME or ./.tessy).")
]


@app.command()
def build(
    config: Annotated[Path, typer.Argument(help="YAML build config, e.g. configs/demo.yaml.")],
    run_id: Annotated[
        str | None, typer.Option(help="Resume this run, or name a new one (default: new id).")
    ] = None,
    home: HomeOption = None,
    allow_rewrite: Annotated[
        bool,
        typer.Option(
            "--allow-rewrite",
            help="Publish even if the target lost versions this factory published to it "
            "(deleted or replaced repo); numbering goes on after them.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Run everything but publishing: the report is written, the run ends as "
            "dry-run; resume it without --dry-run to publish.",
        ),
    ] = False,
) -> None:
    """Run a complete build: prompts, generation, verification, curation, publishing."""
    overrides = _home_override(home)
    build_config = _flow_config(load_config, config, overrides, run_id)
    _check_sources(build_config.sources, config.parent.resolve())
    # Imported here: importing the flow pulls in Prefect, slow for the other commands.
    from flows.build import build_dataset

    result = _resumable(
        "build",
        config,
        home,
        _new_run(build_config, run_id),
        lambda run: build_dataset(
            str(config),
            overrides,
            run_id=run,
            dry_run=dry_run,
            allow_rewrite=allow_rewrite,
        ),
    )
    if result.version is None:
        console.print(f"\n[green]Dry run {result.run_id} finished; nothing published[/green]")
    else:
        console.print(
            f"\n[green]Build {result.run_id} published {result.rows} rows as "
            f"{result.version}[/green]"
        )
        console.print(f"dataset: {result.dataset}")
    console.print(f"report:  {result.report}")
    if result.dataset is not None:
        console.print(f"load it: datasets.load_dataset({result.dataset!r}, split='train')")


@app.command()
def probe(
    config: Annotated[
        Path, typer.Argument(help="YAML probe config, e.g. configs/probe-demo.yaml.")
    ],
    version: Annotated[
        str | None,
        typer.Option(help="Probe this version (default: the config's dataset.version)."),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Fine-tune the student on each mode's rows of a dataset version and judge it on held-out
    problems; re-running it skips the modes it finished."""
    overrides = _home_override(home) | ({"dataset.version": version} if version else {})
    probe_config = _flow_config(load_probe_config, config, overrides, None)
    from flows.probe import probe_dataset
    from tessy_factory.probe.dataset import resolve_version

    # Named here, `latest` included, and pinned for the flow: the resume command then
    # finishes this version even when a build publishes a newer one in between.
    try:
        version = resolve_version(probe_config.dataset, FactoryHome.resolve(probe_config.home).hub)
    except EXPECTED_FAILURES as exc:
        _fail(exc, code=1)
    overrides |= {"dataset.version": version}
    options = ["--version", version] + (["--home", str(home)] if home else [])
    again = shlex.join(["tessy", "probe", str(config), *options])
    try:
        result = probe_dataset(str(config), overrides)
    except EXPECTED_FAILURES as exc:
        _fail(exc, code=1, then=f" (finished modes are kept; resume with: {again})")
    console.print(
        f"\n[green]Probe {result.probe_hash} of {result.repo_id} {result.version}[/green]"
    )
    console.print(Markdown(result.table))


ConfigT = TypeVar("ConfigT", bound=BaseModel)
FlowResult = TypeVar("FlowResult")

# The failures a flow expects (bad source, run id conflict, quality gate, model, publish,
# database and file errors): one line each; anything else is a bug and keeps its traceback.
EXPECTED_FAILURES = (ValueError, RuntimeError, OSError, duckdb.Error)


def _new_run(config: BaseModel, run_id: str | None) -> str:
    """The run id given, or a new one: made here so it is printed before the flow starts."""
    from tasks.runs import new_run_id

    return run_id or new_run_id(config)


def _resumable(
    command: str,
    config: Path,
    home: Path | None,
    run_id: str,
    start: Callable[[str], FlowResult],
) -> FlowResult:
    """`start(run_id)`, the run id and the command that resumes it printed first; a failure
    exits 1 with one line that names them too (Prefect has logged its traceback)."""
    from tasks.runs import RunConflict

    home_option = ["--home", str(home)] if home is not None else []
    # Quoted where needed, so that it can be pasted into a shell as it is.
    resume = shlex.join(["tessy", *command.split(), str(config), "--run-id", run_id, *home_option])
    console.print(escape(f"run {run_id} (resume with: {resume})"), soft_wrap=True)
    try:
        return start(run_id)
    except RunConflict as exc:
        # Its message says what to do instead of resuming.
        _fail(exc, code=1)
    except EXPECTED_FAILURES as exc:
        _fail(exc, code=1, then=f" (run {run_id}; resume with: {resume})")
    except Exception:
        # A bug keeps its traceback, but the user still learns how to resume.
        console.print(escape(f"run {run_id} failed; resume with: {resume}"), soft_wrap=True)
        raise


def _flow_config(
    load: Callable[[Path, dict[str, Any]], ConfigT],
    path: Path,
    overrides: dict[str, Any],
    run_id: str | None,
) -> ConfigT:
    """The flow's config as it will resolve it, `path` with `overrides`; bad input exits
    with code 2 before the flow starts."""
    from tasks.runs import check_run_id

    try:
        config = load(path, overrides)
        if run_id is not None:
            check_run_id(run_id)
    except ValueError as exc:
        _fail(exc, code=2)
    return config


def _home_override(home: Path | None) -> dict[str, Any]:
    """The --home option as the flow's override of the config's `home`."""
    return {} if home is None else {"home": str(home.resolve())}


def _check_sources(sources: list[PromptSource], base_dir: Path) -> None:
    """Exit with code 2, before Prefect starts, if a source cannot be read at all."""
    # Imported here: the readers pull in `datasets`, slow for the other commands.
    from tessy_factory.sources.readers import (
        SourceError,
        check_readable,
        refuse_repeated_labels,
    )

    try:
        refuse_repeated_labels(sources)
        for source in sources:
            check_readable(source, base_dir)
    except SourceError as exc:
        _fail(exc, code=2)


def _existing_home(home: Path | None) -> FactoryHome:
    try:
        return FactoryHome.resolve(home, create=False)
    except FileNotFoundError as exc:
        _fail(exc, code=1)


def _fail(exc: Exception, code: int, then: str = "") -> NoReturn:
    # soft_wrap: one line however narrow the terminal, so logs and grep see it whole.
    console.print(f"[red]error:[/red] {escape(_message(exc) + then)}", soft_wrap=True)
    raise typer.Exit(code) from exc


def _message(exc: Exception) -> str:
    """What the user reads of an error: of a file error, the file and the cause."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, duckdb.Error):
        # The first line names the file and the cause; DuckDB's hints follow it.
        return str(exc).splitlines()[0]
    return str(exc)


@contextmanager
def _reading(home: Path | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The home's database opened read-only: it can be read during a build (waiting for
    the build's spell on it to end) and on a read-only home. Errors exit 1, one line each."""
    database = _existing_home(home).database
    try:
        with connect(database, read_only=True) as con:
            yield con
    except (DatabaseBusy, duckdb.Error) as exc:
        _fail(exc, code=1)


@app.command()
def runs(home: HomeOption = None) -> None:
    """List builds and predictor training runs, newest first, in two tables."""
    with _reading(home) as con:
        cursor = con.execute(sql("runs_list"))
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        builds = [row for row in rows if row["kind"] == "build"]
        training = [row for row in rows if row["kind"] == "predictors"]
        shown = [_builds_table(con, builds) if builds else "no builds yet"]
        if training:
            shown.append(_training_table(con, training))
    for table in shown:
        console.print(table)


def _runs_table(title: str, caption: str | None = None) -> Table:
    """A table that fits 80 columns: a rule under the header, two spaces between columns,
    the run id folded only where it is longer than the space left."""
    table = Table(
        title=title,
        caption=caption,
        title_justify="left",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("run id", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("started", no_wrap=True)
    return table


def _run_cells(row: dict) -> tuple[str, str, str]:
    owner = recorded_owner(row.get("owner_pid"), row.get("owner_host"), row.get("owner_started"))
    # Month, day and time: the year would push the table past 80 columns.
    return row["run_id"], shown_status(row["status"], owner), f"{row['started_at']:%m-%d %H:%M}"


def _builds_table(con: duckdb.DuckDBPyConnection, builds: list[dict]) -> Table:
    table = _runs_table("Builds", caption="in: prompts read; out: rows published")
    table.add_column("version", no_wrap=True)
    table.add_column("in", justify="right", no_wrap=True)
    table.add_column("out", justify="right", no_wrap=True)
    for row in builds:
        counts = funnel(con, row["run_id"])
        table.add_row(
            *_run_cells(row),
            row["version"] or "-",
            str(counts["prompts_in"]),
            str(counts["published"]),
        )
    return table


def _training_table(con: duckdb.DuckDBPyConnection, training: list[dict]) -> Table:
    registered_by = dict(con.execute(sql("predictors_of_runs")).fetchall())
    table = _runs_table("Predictor training runs")
    table.add_column("registered")
    for row in training:
        table.add_row(*_run_cells(row), registered_by.get(row["run_id"], "-"))
    return table


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="The run whose report to show.")],
    home: HomeOption = None,
    html: Annotated[
        bool, typer.Option("--html", help="Print the path of the HTML report instead.")
    ] = False,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve", help="Serve the HTML report on 127.0.0.1 and print its URL, until Ctrl-C."
        ),
    ] = False,
    port: Annotated[int, typer.Option(help="--serve: the port (0: any free one).")] = 0,
) -> None:
    """Show the report of a build."""
    suffix = ".html" if html or serve else ".md"
    path = _existing_home(home).reports / f"{run_id}{suffix}"
    if not path.is_file():
        console.print(f"[red]error:[/red] {escape(f'no report for run {run_id!r} at {path}')}")
        raise typer.Exit(1)
    if serve:
        _serve(path, port)
    elif html:
        typer.echo(path)
    else:
        console.print(Markdown(path.read_text(encoding="utf-8")))


def _serve(path: Path, port: int) -> None:
    """Serve the directory of `path` on the loopback interface only, until interrupted."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = partial(SimpleHTTPRequestHandler, directory=str(path.parent))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        # Flushed: a script reading the URL from a pipe must not wait for the buffer to fill.
        print(f"http://127.0.0.1:{server.server_port}/{quote(path.name)}", flush=True)
        with suppress(KeyboardInterrupt):
            server.serve_forever()


@models_app.command("tiny")
def models_tiny(
    home: HomeOption = None,
    world: Annotated[
        str,
        typer.Option(
            help="The miniature world: "
            + "; ".join(f"{w.name}: {w.about}" for w in WORLDS.values())
            + ". A config names its models miniature-WORLD:ROLE (miniature:ROLE for demo).",
        ),
    ] = DEFAULT_WORLD,
) -> None:
    """Build (once) the miniature teacher, student and boundary predictors, offline."""
    if world not in WORLDS:
        _fail(ValueError(f"--world {world!r}: no such world; use one of {sorted(WORLDS)}"), 2)
    # Imported here: it pulls in torch, which made every other command take seconds (about
    # 10 s of a `tessy runs` on a loaded 2-core machine).
    from tessy_factory.miniature.build import ensure_miniature, miniature_dir

    factory = FactoryHome.resolve(home)
    built = miniature_dir(factory.models, world).exists()
    root = ensure_miniature(factory.models, log=console.print, world=world)
    manifest = json.loads((root / "manifest.json").read_text())
    console.print(f"{'cached' if built else 'built'}: {root}")
    console.print_json(data=manifest)


@predictors_app.command("train")
def predictors_train(
    config: Annotated[
        Path, typer.Argument(help="YAML training config, e.g. configs/predictors-demo.yaml.")
    ],
    run_id: Annotated[
        str | None, typer.Option(help="Resume this run, or name a new one (default: new id).")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Train, evaluate and register the teacher's and the student's boundary predictors."""
    from flows.train_predictors import ROLES, train_boundary_predictors

    overrides = _home_override(home)
    training = _flow_config(load_training_config, config, overrides, run_id)
    metrics = _resumable(
        "predictors train",
        config,
        home,
        _new_run(training, run_id),
        lambda run: train_boundary_predictors(str(config), overrides, run_id=run),
    )
    table = Table("predictor", *METRIC_COLUMNS)
    for role in ROLES:
        table.add_row(f"registered:{training.name}-{role}", *_metric_cells(metrics[role]))
    console.print(table)
    console.print(
        f"use them: teacher_predictor.model: registered:{training.name}-teacher, "
        f"student_predictor.model: registered:{training.name}-student"
    )


@predictors_app.command("list")
def predictors_list(home: HomeOption = None) -> None:
    """List the registered boundary predictors with their held-out metrics."""
    with _reading(home) as con:
        rows = registered(con)
    table = Table("name", "role", *METRIC_COLUMNS, "base model", "annotator", "run id", "path")
    for row in rows:
        table.add_row(
            row.name,
            row.role,
            *_metric_cells(row.metrics),
            row.base_model,
            row.annotator,
            row.run_id,
            row.path,
        )
    console.print(table if rows else "no predictors registered yet")


METRIC_COLUMNS = ("token accuracy", "span F1", "boundary distance")


def _metric_cells(metrics: dict) -> tuple[str, str, str]:
    return (
        f"{metrics['token_accuracy']:.3f}",
        f"{metrics['span_f1']:.3f}",
        f"{metrics['boundary_distance']:.2f}",
    )


if __name__ == "__main__":
    app()
