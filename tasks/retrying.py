"""Prefect retry options shared by the network-bound tasks (model servers, the Hub)."""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

# Each retry waits its back-off delay times a random factor of up to 1.5, so builds (or
# shards) that failed together do not all call the server again at the same moment.
RETRY_JITTER = 0.5


def backoff(retries: int, first_delay_s: float) -> dict[str, Any]:
    """`Task.with_options` arguments: `retries` retries, the first after `first_delay_s`,
    each next one twice as long, all with jitter."""
    return {
        "retries": retries,
        "retry_delay_seconds": exponential_backoff(first_delay_s)(retries),
        "retry_jitter_factor": RETRY_JITTER,
    }
