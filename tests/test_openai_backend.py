"""The openai backend against real `transformers serve` processes on loopback, serving the
miniature models: samples, concurrent samples in a build, and every way a server can fail."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from config_file import config_file
from sample_contract import check_sample
from served_config import demo_build, served_config

from flows.build import build_dataset
from tessy_factory.config import GenerationMode, ModelConfig
from tessy_factory.db import connect
from tessy_factory.demo.problems import build_problems
from tessy_factory.engine.local_model import ModelLoadError
from tessy_factory.engine.loop import generate_sample
from tessy_factory.engine.openai_model import EndpointError, OpenAIModel, _overflows_context
from tessy_factory.engine.text_model import GenerationFailed
from tessy_factory.engine.transformers_server import serving
from tessy_factory.engine.writers import load_writers
from tessy_factory.miniature.build import miniature_dir


@pytest.fixture(scope="module")
def servers(models_root: Path) -> Iterator[dict[str, str]]:
    """The miniature teacher and student, each behind its own server: role -> API root."""
    root = miniature_dir(models_root)
    with serving([str(root / "teacher"), str(root / "student")]) as urls:
        yield dict(zip(("teacher", "student"), urls, strict=True))


def prompt(index: int = 0) -> str:
    return build_problems(8, 2026)[index].text


def test_tessy_and_a_baseline_through_servers_keep_the_sample_contract(servers, models_root):
    config = served_config(servers, models_root, modes=["tessy", "teacher-only"])
    teacher, student = load_writers(config, models_root)

    async def both():
        return await asyncio.gather(
            generate_sample(prompt(), GenerationMode.TESSY, teacher, student, config.generation),
            generate_sample(
                prompt(), GenerationMode.TEACHER_ONLY, teacher, student, config.generation
            ),
        )

    tessy, teacher_only = asyncio.run(both())
    check_sample(tessy, GenerationMode.TESSY, config.generation)
    check_sample(teacher_only, GenerationMode.TEACHER_ONLY, config.generation)
    assert tessy.n_switches >= 1
    assert tessy.tokens_by("teacher") > 0 and tessy.tokens_by("student") > 0


def test_a_build_on_servers_stores_every_sample_with_time_per_model(
    servers, models_root, tmp_path, prefect_harness
):
    build = demo_build(tmp_path, models_root, 3, min_rows_to_publish=0)
    home = Path(build["home"])
    config = served_config(
        servers, models_root, build, modes=["tessy", "student-only"], concurrency=4
    )
    build_dataset(config_file(config), run_id="served-1")
    with connect(home / "factory.duckdb") as con:
        rows = con.execute(
            "SELECT mode, status, teacher_seconds, student_seconds, spans FROM generations"
        ).fetchall()
    assert len(rows) == 6
    for mode, status, teacher_seconds, student_seconds, spans in rows:
        if status != "ok":
            continue
        authors = {span["author"] for span in json.loads(spans)}
        assert (teacher_seconds is not None) == ("teacher" in authors), mode
        assert student_seconds > 0
    assert any(status == "ok" for _, status, *_ in rows)


def test_a_field_the_server_rejects_names_the_endpoint_and_its_answer(servers, models_root):
    config = served_config(servers, models_root)
    # vLLM accepts top_k; transformers serve rejects unknown fields with HTTP 422.
    teacher = config.teacher.model_copy(update={"extra_body": {"top_k": 5}})
    model = OpenAIModel("miniature:teacher", teacher.served_model, teacher)
    with pytest.raises(EndpointError) as caught:
        asyncio.run(model.complete(model.prompt_text(prompt()), 5, None, seed=0))
    message = str(caught.value)
    assert servers["teacher"] in message and "HTTP 422" in message and "top_k" in message


def test_a_400_of_another_kind_still_stops_the_build_naming_the_endpoint(servers, models_root):
    config = served_config(servers, models_root)
    # A pinned transformers serve answers HTTP 400 to any other model name.
    student = config.student.model_copy(update={"served_model": "no-such-model"})
    model = OpenAIModel("miniature:student", str(miniature_dir(models_root) / "student"), student)
    with pytest.raises(EndpointError) as caught:
        asyncio.run(model.complete(model.prompt_text(prompt()), 5, None, seed=0))
    message = str(caught.value)
    assert servers["student"] in message and "HTTP 400" in message and "no-such-model" in message


@pytest.mark.parametrize(
    "detail",
    [
        # vLLM, older and newer
        "This model's maximum context length is 2048 tokens. However, you requested 2100 "
        "tokens (2000 in the messages, 100 in the completion).",
        "The decoder prompt (length 2100) is longer than the maximum model length of 2048.",
        # SGLang
        "The input (2100 tokens) is longer than the model's context length (2048 tokens).",
    ],
)
def test_the_servers_wordings_of_a_context_overflow_are_recognised(detail):
    # transformers serve does not check the context, so no test server says this: these are
    # the servers' own words, which the mapping must recognise.
    assert _overflows_context(400, detail)
    assert not _overflows_context(422, detail)  # other statuses keep stopping the build


def test_a_request_that_times_out_fails_only_its_sample_naming_the_endpoint(servers, models_root):
    config = served_config(servers, models_root)
    # 300 tokens take the CPU server far longer than 50 ms.
    student = config.student.model_copy(update={"request_timeout_s": 0.05, "max_retries": 0})
    model = OpenAIModel("miniature:student", student.served_model, student)
    with pytest.raises(GenerationFailed) as caught:
        asyncio.run(model.complete(model.prompt_text(prompt()), 300, None, seed=0))
    # A retryable sample failure: the build records the attempt and goes on.
    assert caught.value.retryable
    message = str(caught.value)
    assert servers["student"] in message and "within 0.05 s" in message


class _Garbage(BaseHTTPRequestHandler):
    """Answers every request 200 with a body that is not a completion."""

    content_type = "text/plain"
    body = b""

    def do_POST(self) -> None:  # the name http.server dispatches to
        content_type, body = self.content_type, self.body
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("text/html", b"<html>502 bad gateway</html>"),
        ("application/json", b"not json at all"),
        ("application/json", b'{"choices": []}'),
        ("application/json", b'{"choices": [{"text": 7, "finish_reason": "stop"}]}'),
    ],
    ids=["html", "bad-json", "no-choices", "text-not-a-string"],
)
def test_garbage_from_a_server_fails_the_sample_with_the_reason(models_root, content_type, body):
    server = HTTPServer(("127.0.0.1", 0), _Garbage)
    _Garbage.content_type, _Garbage.body = content_type, body
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        config = ModelConfig(model="miniature:teacher", backend="openai", base_url=url)
        model = OpenAIModel("garbage", str(miniature_dir(models_root) / "teacher"), config)
        with pytest.raises(GenerationFailed, match=url) as caught:
            asyncio.run(model.complete(model.prompt_text(prompt()), 5, None, seed=0))
        assert caught.value.retryable
    finally:
        server.shutdown()


def test_returned_text_splits_into_the_models_tokens(models_root):
    config = ModelConfig(model="miniature:student", backend="openai", base_url="http://x/v1")
    model = OpenAIModel("student", str(miniature_dir(models_root) / "student"), config)
    text = " Hmm, Read n and the n integers.\n```python\nn = int(input())\n```"
    pieces = model.token_pieces(text)
    assert "".join(pieces) == text
    assert len(pieces) == len(model.tokenizer(text, add_special_tokens=False)["input_ids"])
    assert model.token_pieces("") == []


def test_an_unset_api_key_variable_is_named(models_root, monkeypatch):
    monkeypatch.delenv("TESSY_TEST_KEY", raising=False)
    config = ModelConfig(
        model="miniature:teacher",
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        api_key_env="TESSY_TEST_KEY",
    )
    with pytest.raises(ModelLoadError, match="TESSY_TEST_KEY is unset"):
        OpenAIModel("teacher", str(miniature_dir(models_root) / "teacher"), config)
