"""The flows' parameters: a config file plus overrides, a typed and described UI form, and
deployments that name their config files and run with their defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.utilities.callables import parameter_schema_from_entrypoint
from prefect.utilities.schema_tools.validation import validate

from tasks.runs import close_dry_run, close_run, open_run
from tessy_factory.config import BuildConfig, ConfigError, load_config
from tessy_factory.curate.quality import Outcome
from tessy_factory.db import connect, sql
from tessy_factory.home import FactoryHome
from tessy_factory.predictors.config import PredictorTrainingConfig, load_training_config
from tessy_factory.probe.config import ProbeConfig, load_probe_config
from tessy_factory.report import build_report
from tessy_factory.report_html.data import gather, save_quality
from tessy_factory.report_html.render import render

ROOT = Path(__file__).parent.parent
DEMO = ROOT / "configs/demo.yaml"
# An HTML-like tag outside a code span: the UI renders descriptions as markdown and drops it.
BARE_TAG = re.compile(r"<[^>\s]+>")


# Each flow's config model and loader, by the deployment's entrypoint.
LOADERS = {
    "flows/build.py:build_dataset": (BuildConfig, load_config),
    "flows/train_predictors.py:train_boundary_predictors": (
        PredictorTrainingConfig,
        load_training_config,
    ),
    "flows/probe.py:probe_dataset": (ProbeConfig, load_probe_config),
}


def deployments() -> list[dict[str, Any]]:
    return yaml.safe_load((ROOT / "deployments/prefect.yaml").read_text())["deployments"]


def test_an_override_changes_only_its_key_dotted_or_nested() -> None:
    plain = load_config(DEMO).model_dump()
    dotted = load_config(DEMO, {"generation.max_total_tokens": 256, "teacher.top_p": 0.5})
    nested = load_config(DEMO, {"generation": {"max_total_tokens": 256}, "teacher.top_p": 0.5})
    assert dotted == nested
    changed = dotted.model_dump()
    assert changed["generation"] == {**plain["generation"], "max_total_tokens": 256}
    assert changed["teacher"] == {**plain["teacher"], "top_p": 0.5}
    assert {k: v for k, v in changed.items() if k not in ("generation", "teacher")} == {
        k: v for k, v in plain.items() if k not in ("generation", "teacher")
    }


def test_a_list_override_replaces_the_files_list() -> None:
    config = load_config(DEMO, {"sources": [{"kind": "demo", "count": 2}]})
    assert [(s.kind, s.count) for s in config.sources] == [("demo", 2)]


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"generation.max_total_tokns": 256}, "generation.max_total_tokns"),
        ({"generation": {"repetition": {"repeat": 3}}}, "generation.repetition.repeat"),
        ({"teachr": {"model": "x"}}, "teachr"),
    ],
)
def test_an_unknown_override_key_is_refused_naming_its_path(
    overrides: dict[str, Any], path: str
) -> None:
    with pytest.raises(ConfigError, match=rf"demo.yaml with overrides: .*\n  {path}: Extra"):
        load_config(DEMO, overrides)


def test_a_malformed_override_key_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"'generation\.\.seed' is not a key"):
        load_config(DEMO, {"generation..seed": 1})


def test_a_predictor_config_takes_overrides_too() -> None:
    training = load_training_config(ROOT / "configs/predictors-demo.yaml", {"windows.count": 7})
    assert training.windows.count == 7


@pytest.mark.parametrize("deployment", deployments(), ids=lambda d: d["name"])
def test_each_deployment_names_a_config_file_and_runs_with_its_defaults(
    deployment: dict[str, Any],
) -> None:
    parameters = deployment["parameters"]
    # Nothing of the config is copied into the deployment: the file is the one source.
    assert set(parameters) <= {"config", "overrides"}
    schema = parameter_schema_from_entrypoint(deployment["entrypoint"]).model_dump_for_openapi()
    # What the server checks when the UI's Run button starts the deployment as it is.
    validate(parameters, schema, raise_on_error=True)
    model, loader = LOADERS[deployment["entrypoint"]]
    assert isinstance(loader(ROOT / parameters["config"], parameters.get("overrides")), model)


@pytest.mark.parametrize("deployment", deployments(), ids=lambda d: d["name"])
def test_each_run_form_field_is_typed_and_described(deployment: dict[str, Any]) -> None:
    schema = parameter_schema_from_entrypoint(deployment["entrypoint"]).model_dump_for_openapi()
    # A probe has no run id: the version and its config's hash name it (a re-run resumes).
    resumed_by_id = "probe" not in deployment["entrypoint"]
    assert {"config", "overrides"} | ({"run_id"} if resumed_by_id else set()) <= set(
        schema["properties"]
    )
    for name, field in schema["properties"].items():
        assert field.get("description"), f"{name} has no description"
        assert not BARE_TAG.search(field["description"]), name
        # A field typed, not a raw JSON object: only `overrides` is a free mapping.
        assert ("type" in field or "anyOf" in field) and "$ref" not in str(field), name
    assert not schema.get("definitions")


@pytest.mark.parametrize("model", [BuildConfig, PredictorTrainingConfig, ProbeConfig])
def test_config_descriptions_show_markup_as_code(model: type) -> None:
    def descriptions(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["description"]] if isinstance(node.get("description"), str) else []
            return found + [d for value in node.values() for d in descriptions(value)]
        if isinstance(node, list):
            return [d for item in node for d in descriptions(item)]
        return []

    for description in descriptions(model.model_json_schema()):
        outside_code = re.sub(r"`[^`]*`", "", description)
        assert not BARE_TAG.search(outside_code), description


def test_a_dry_run_resume_of_a_published_run_leaves_it_completed(tmp_path: Path) -> None:
    home = FactoryHome.resolve(tmp_path / "home")
    config = BuildConfig.model_validate({"home": str(home.root)})
    open_run.fn("published-1", config, home, {})
    with connect(home.database) as con:
        con.execute(sql("run_set_version"), ["v2026.12.02-1", "published-1"])
    close_run.fn("published-1", home)
    # Resumed with --dry-run: the resume marks it running, the dry run publishes nothing.
    open_run.fn("published-1", config, home, {})
    close_dry_run.fn("published-1", home)
    with connect(home.database) as con:
        status = con.execute("SELECT status FROM runs WHERE run_id = 'published-1'").fetchone()
    assert status == ("completed",)


def test_the_reports_config_leaves_out_the_local_home(tmp_path: Path) -> None:
    home = FactoryHome.resolve(tmp_path / "secret-place")
    config = BuildConfig.model_validate({"home": str(home.root)})
    open_run.fn("local-1", config, home, {})
    with connect(home.database) as con:
        markdown = build_report(con, "local-1", [], "", releasing=False)
        data = gather(con, "local-1", None, releasing=False)
    # Both are published beside the data, maybe on a public Hub: no path of this machine.
    assert "## Config" in markdown and "secret-place" not in markdown
    assert "home" not in data.config and data.config["publish"] == config.publish.model_dump()


def test_a_dry_runs_html_report_says_so_not_that_a_gate_failed(tmp_path: Path) -> None:
    home = FactoryHome.resolve(tmp_path / "home")
    open_run.fn("dry-1", BuildConfig.model_validate({"home": str(home.root)}), home, {})
    with connect(home.database) as con:
        save_quality(con, "dry-1", [Outcome("rows", "expect_x", "id", True, "ok")])
        page = render(gather(con, "dry-1", None, releasing=False))
    release = page.split('id="release">')[1].split("</div>")[0]
    assert "a dry run" in release and "quality gate failed" not in release
