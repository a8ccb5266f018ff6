"""The dask runner's pieces that need no cluster: shards, the per-process cache, resources."""

from __future__ import annotations

import dask
import pytest

from tessy_factory.config import BuildConfig, ExecutionConfig
from tessy_factory.execution import dask_runner, needing, per_process, shards


def test_shards_keep_order_and_cover_every_item_once():
    assert shards(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert shards([], 3) == []
    with pytest.raises(ValueError, match="1 or more"):
        shards([1], 0)


def test_a_process_loads_once_per_key():
    loads = []

    def load(value: int) -> int:
        loads.append(value)
        return value

    assert per_process("test-key-a", lambda: load(1)) == 1
    assert per_process("test-key-a", lambda: load(2)) == 1
    assert per_process("test-key-b", lambda: load(3)) == 3
    assert loads == [1, 3]


def test_shards_ask_for_their_resources_and_a_local_cluster_has_them():
    with needing({"GPU": 1}):
        assert dask.get_annotations() == {"resources": {"GPU": 1}}
    with needing({}):
        assert "resources" not in dask.get_annotations()
    execution = ExecutionConfig(
        task_runner="dask", generation_resources={"GPU": 1}, verification_resources={"JUDGE": 1}
    )
    runner = dask_runner(execution)
    assert runner.cluster_kwargs["resources"] == {"GPU": 1, "JUDGE": 1}
    assert runner.cluster_kwargs["n_workers"] == 2
    assert dask_runner(ExecutionConfig(dask_address="tcp://10.0.0.5:8786")).address == (
        "tcp://10.0.0.5:8786"
    )


def test_where_a_build_runs_is_not_part_of_its_fingerprint():
    local = BuildConfig()
    dask_build = BuildConfig.model_validate({"execution": {"task_runner": "dask", "shard_size": 3}})
    assert local.fingerprint() == dask_build.fingerprint()
