"""A generating model behind OpenAI-compatible servers (the `openai` backend).

Requests go to raw-text `/v1/completions`: the prompt is rendered here in the model's own
chat template, from its tokenizer, so any server of the weights works (vLLM, SGLang,
`transformers serve`). The returned text is split into the model's tokens locally, for the
cut and the token accounting. A model may have several servers (`base_url` a list): each
request goes to the least busy one (see `endpoints`). A transient fault (unreachable, a
timeout, 408, 429, 5xx) is retried up to `max_retries` times, on another server where there
is one, and the failed server is left out for a back-off period; a timeout left after the
retries fails the sample attempt, the other faults stop generation. A refusal (4xx) stops
it at once, but for a 400 that says the text exceeds the model's context: that one fails
the sample.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import re
import ssl

import httpx2
import openai
from transformers import AutoTokenizer

from tessy_factory.config import ModelConfig
from tessy_factory.engine.endpoints import Endpoint, EndpointPool
from tessy_factory.engine.local_model import ModelLoadError
from tessy_factory.engine.text_model import (
    ContextOverflow,
    Continuation,
    GenerationFailed,
    StopHint,
    chat_prompt,
    check_fits,
)
from tessy_factory.engine.tokens import count_tokens, encode


class EndpointError(RuntimeError):
    """The server refused a request or stayed unreachable: every sample would fail alike,
    so generation stops (the build retries it, see `tasks.generation`); the message names
    the endpoint."""


# How servers word a 400 for a text longer than the model's context: vLLM ("This model's
# maximum context length is ...", "... longer than the maximum model length of ..."),
# SGLang ("... longer than the model's context length ..."), the OpenAI API
# (context_length_exceeded). transformers serve does not check the context.
_CONTEXT_OVERFLOW = re.compile(
    r"context length|maximum model length|max_model_len|context_length_exceeded", re.IGNORECASE
)


def _overflows_context(status: int, detail: str) -> bool:
    """Whether a refusal is of this one text as too long for the model's context."""
    return status == 400 and _CONTEXT_OVERFLOW.search(detail) is not None


# Statuses of a server's passing trouble, as the openai client retries them.
_TRANSIENT_STATUSES = {408, 409, 429}


def _transient(status: int) -> bool:
    return status in _TRANSIENT_STATUSES or status >= 500


class OpenAIModel:
    """A model served at `config.base_url` (one or several servers), with its tokenizer
    loaded here."""

    def __init__(self, name: str, tokenizer_path: str, config: ModelConfig) -> None:
        self.name = name
        self.config = config
        self.served_model = config.served_model or name
        self.pool = EndpointPool(config.base_urls, config.retry_backoff_s)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"cannot load the tokenizer of {name!r} from {tokenizer_path!r}: {exc}"
            ) from exc
        self._api_key = self._read_api_key()
        self._clients: dict[asyncio.AbstractEventLoop, dict[str, openai.AsyncOpenAI]] = {}
        self._closer: asyncio.Task | None = None

    def _read_api_key(self) -> str:
        variable = self.config.api_key_env
        if variable is None:
            # Local servers take any key; the client refuses to start without one.
            return "no-key"
        key = os.environ.get(variable)
        if not key:
            raise ModelLoadError(f"model {self.name!r}: environment variable {variable} is unset")
        return key

    def _client(self, url: str) -> openai.AsyncOpenAI:
        # An async HTTP client belongs to the event loop it first ran in; a build runs one
        # loop, but a notebook or a test may run several in turn.
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            self._clients = {loop: {}}
            # Held here: a loop keeps only a weak reference to its tasks.
            self._closer = loop.create_task(_close_at_loop_end(self._clients[loop]))
        clients = self._clients[loop]
        if url not in clients:
            clients[url] = openai.AsyncOpenAI(
                base_url=url,
                api_key=self._api_key,
                timeout=self.config.request_timeout_s,
                # The retries are ours, so that one may go to another server.
                max_retries=0,
                http_client=openai.DefaultAsyncHttpxClient(verify=_tls_context()),
            )
        return clients[url]

    async def probe(self) -> None:
        """Ask the server for one token: ModelLoadError unless it is up, serves
        `served_model` and accepts the request's fields, so a build finds out before it
        generates anything."""
        try:
            await self.complete(self.prompt_text("Hello."), 1, None, seed=0)
        except (EndpointError, GenerationFailed) as exc:
            raise ModelLoadError(
                f"model {self.name!r} (served as {self.served_model!r}) does not answer: {exc}"
            ) from exc

    def prompt_text(self, user_prompt: str) -> str:
        """The user turn in this model's own chat template, ready for the assistant turn."""
        return chat_prompt(self.tokenizer, user_prompt)

    def new_cache(self) -> None:
        """No client-side state: a server with prefix caching reuses the shared prefix."""
        return None

    def count_tokens(self, text: str) -> int:
        """The number of this model's tokens in `text`."""
        return count_tokens(self.tokenizer, text)

    async def complete(
        self,
        prefix: str,
        max_new_tokens: int,
        cache: object | None,
        seed: int,
        stop: StopHint | None = None,
    ) -> Continuation:
        """Sample up to `max_new_tokens` tokens after `prefix` on the server. `stop` goes
        unused: a request runs to its end, and the loop cuts what follows."""
        check_fits(self.name, self.config, self.count_tokens(prefix), max_new_tokens)
        request = {
            "model": self.served_model,
            "prompt": prefix,
            "max_tokens": max_new_tokens,
            "temperature": self.config.temperature,
            "top_p": self.config.top_p,
            "seed": seed,
            "extra_body": self.config.extra_body or None,
        }
        tries = self.config.max_retries + 1
        for _ in range(tries):
            async with self.pool.lease() as endpoint:
                try:
                    response = await self._client(endpoint.url).completions.create(**request)
                except openai.APITimeoutError as exc:
                    # Caught before the connection errors it is a kind of: a slow answer
                    # belongs to this request (a long text, a busy server), so the server
                    # stays in; after the last try it fails this sample attempt alone.
                    fault: Exception = GenerationFailed(
                        f"{_completions(endpoint)} did not answer within "
                        f"{self.config.request_timeout_s:g} s (request_timeout_s), {tries} tries"
                    )
                    fault.__cause__ = exc
                    continue
                except openai.APIStatusError as exc:
                    if not _transient(exc.status_code):
                        raise self._refusal(endpoint, exc) from exc
                    self.pool.failed(endpoint)
                    fault = EndpointError(
                        f"{_completions(endpoint)} failed a request for {self.served_model!r} "
                        f"after {tries} tries: HTTP {exc.status_code}: {_detail(exc)}"
                    )
                    fault.__cause__ = exc
                    continue
                except openai.APIConnectionError as exc:
                    self.pool.failed(endpoint)
                    fault = EndpointError(
                        f"{_completions(endpoint)} unreachable after {tries} tries: {exc}"
                    )
                    fault.__cause__ = exc
                    continue
                except (openai.APIResponseValidationError, ValueError) as exc:  # bad JSON
                    raise GenerationFailed(
                        f"{_completions(endpoint)} returned a malformed response: {exc}"
                    ) from exc
            self.pool.succeeded(endpoint)
            return self._continuation(response, endpoint)
        raise fault

    def _refusal(self, endpoint: Endpoint, exc: openai.APIStatusError) -> GenerationFailed:
        """The error for a status no retry can change: the server refuses the request."""
        detail = _detail(exc)
        if _overflows_context(exc.status_code, detail):
            # This text's fault, not the server's: the sample fails, the build goes on.
            return ContextOverflow(
                f"{_completions(endpoint)} says the text exceeds the context of "
                f"{self.name!r}: {detail}"
            )
        return EndpointError(
            f"{_completions(endpoint)} refused a request for {self.served_model!r}: "
            f"HTTP {exc.status_code}: {detail}"
        )

    def _continuation(self, response: object, endpoint: Endpoint) -> Continuation:
        choices = getattr(response, "choices", None)
        text = getattr(choices[0], "text", None) if choices else None
        if not isinstance(text, str):
            raise GenerationFailed(
                f"{_completions(endpoint)} returned no completion text: {str(response)[:200]!r}"
            )
        # "stop": an end-of-sequence token or a stop string; "length": max_tokens reached.
        return Continuation(self.token_pieces(text), choices[0].finish_reason == "stop")

    def token_pieces(self, text: str) -> list[str]:
        """`text` split where this model's tokens begin; the pieces join back to `text`."""
        # `encode` calls a fast tokenizer's Rust tokenizer directly: the tokenizer's own
        # call wraps it in Python that costs as much again, at every turn of every sample.
        starts = encode(self.tokenizer, text).starts
        bounds = [0, *starts[1:], len(text)]
        return [text[a:b] for a, b in itertools.pairwise(bounds)] if starts else []


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The TLS settings every client shares (httpx's defaults). A client makes its own
    otherwise, reading the CA bundle again: 0.1-0.2 s per client, per server and event loop,
    7% of a 3 s benchmark run."""
    return httpx2.create_ssl_context()


async def _close_at_loop_end(clients: dict[str, openai.AsyncOpenAI]) -> None:
    """Wait until cancelled, then close `clients`. `asyncio.run` cancels the tasks left when
    its coroutine returns and runs them to their end before it closes the loop, so the
    clients close in their own loop, whoever ran it. A client left open is closed by its
    finaliser in whatever loop runs next, on sockets of the closed one: "Event loop is
    closed" from a task nobody awaits."""
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.gather(*(client.close() for client in clients.values()))


def _completions(endpoint: Endpoint) -> str:
    return f"{endpoint.url.rstrip('/')}/completions"


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("message") or body)
    return exc.message
