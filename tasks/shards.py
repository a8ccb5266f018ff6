"""Collecting the shards a build submitted to its Dask runner, in the flow's process."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prefect.futures import PrefectFuture, as_completed


def store_as_completed(
    futures: Iterable[PrefectFuture], store_one: Callable[[Any], None]
) -> list[Exception]:
    """Call `store_one` with each shard's result as it completes, and return the errors of
    the shards that failed, in the order they came: one shard's failure does not stop the
    shards finished after it from being stored, so a re-run redoes only the failed ones."""
    errors: list[Exception] = []
    for future in as_completed(list(futures)):
        try:
            result = future.result()
        except Exception as exc:
            errors.append(exc)
            continue
        store_one(result)
    return errors
