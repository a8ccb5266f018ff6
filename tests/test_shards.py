"""Collecting shards: one shard's failure does not drop the shards finished after it."""

from __future__ import annotations

import time

import pytest
from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.shards import store_as_completed


@task
def shard(number: int) -> int:
    if number == 0:
        raise RuntimeError("shard 0 failed")
    # Every other shard ends after the failed one.
    time.sleep(0.2)
    return number


@flow
def collect(numbers: list[int]) -> tuple[list[int], list[str]]:
    stored: list[int] = []
    with ThreadPoolTaskRunner(max_workers=4) as runner:
        futures = [runner.submit(shard, {"number": n}) for n in numbers]
        errors = store_as_completed(futures, stored.append)
    return sorted(stored), [str(exc) for exc in errors]


@pytest.mark.usefixtures("prefect_harness")
def test_the_shards_that_end_after_a_failed_one_are_stored_and_its_error_returned():
    stored, errors = collect([0, 1, 2, 3])
    assert stored == [1, 2, 3]
    assert errors == ["shard 0 failed"]
