"""Running a build's generation and verification in shards on a Dask cluster.

The flow's process cuts the pending work into shards (prompt ranges), submits each as a
Prefect task to prefect-dask's DaskTaskRunner, and stores every shard's rows itself as its
future completes: DuckDB keeps one writer, the flow's, and a worker never needs the
database file (on a cluster it is on another machine). A worker loads the models, or opens
the judge, once per process (`per_process`), not once per shard.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from tessy_factory.config import ConfigError, ExecutionConfig

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner
    from prefect_dask import DaskTaskRunner

T = TypeVar("T")

_loaded: dict[str, Any] = {}
_loading = threading.Lock()
_turn = threading.Lock()


def shards(items: Sequence[T], size: int) -> list[list[T]]:
    """`items` in order, cut into consecutive runs of `size` (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"shard size must be 1 or more, got {size}")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def per_process(key: str, load: Callable[[], T]) -> T:
    """`load()`'s result, loaded once in this process for `key` (what loads it, e.g. the
    config's model sections as JSON) and kept: a worker runs many shards."""
    with _loading:
        if key not in _loaded:
            _loaded[key] = load()
        return _loaded[key]


def one_at_a_time() -> threading.Lock:
    """A lock of this process's, held while a shard uses the models it shares with others.

    A function, not the lock itself: a Prefect task run on Dask is pickled with the globals
    of its function, and a lock cannot be pickled."""
    return _turn


@contextmanager
def open_runner(execution: ExecutionConfig) -> Iterator[TaskRunner | None]:
    """The build's DaskTaskRunner, started (with its LocalCluster, when it starts one) for
    the block and closed after it; None for the local runner, which runs in this process."""
    if execution.task_runner == "local":
        yield None
        return
    with _api_for_workers(execution.dask_address), dask_runner(execution) as runner:
        yield runner


@contextmanager
def _api_for_workers(dask_address: str) -> Iterator[None]:
    """Name the flow's temporary Prefect API in the settings the block's tasks carry to
    their workers, when the flow runs on one (no PREFECT_API_URL): a worker would otherwise
    start a temporary API of its own, seconds per worker process, on the same database.
    Workers of a scheduler elsewhere could not reach it (it listens on this machine's
    loopback), so a build naming one must name a Prefect server too."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer()
    if PREFECT_API_URL.value() or not server.running:
        yield
        return
    if dask_address:
        raise ConfigError(
            f"execution.dask_address ({dask_address}) names a Dask scheduler, but this flow "
            "runs on a temporary Prefect API on this machine's loopback, which that cluster's "
            "workers cannot report to: set PREFECT_API_URL to a Prefect server both reach "
            "(README, Distributed builds on Dask)"
        )
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield


def dask_runner(execution: ExecutionConfig) -> DaskTaskRunner:
    """The DaskTaskRunner of `execution`: against its scheduler's address, or a LocalCluster
    of its worker processes, started with the runner and closed with it."""
    # Imported here: a local build does not pay for importing distributed.
    from prefect_dask import DaskTaskRunner

    if execution.dask_address:
        return DaskTaskRunner(address=execution.dask_address)
    # Every local worker has the resources shards ask for, or those shards would wait forever.
    resources = {**execution.generation_resources, **execution.verification_resources}
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": execution.dask_workers,
            "threads_per_worker": execution.threads_per_worker,
            "processes": True,
            "resources": resources or None,
            # No dashboard: its port would clash between builds on one machine.
            "dashboard_address": None,
        },
    )


@contextmanager
def needing(resources: dict[str, float]) -> Iterator[None]:
    """Tasks submitted in the block run only on workers that have `resources`."""
    if not resources:
        yield
        return
    import dask

    with dask.annotate(resources=resources):
        yield
