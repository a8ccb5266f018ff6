"""Several servers of one model: which one takes the next request.

A request goes to the server with the fewest requests outstanding, so a slow server (or
one busy with long requests) gets fewer. A server that fails a request (unreachable, 5xx,
429) is left out for a back-off period that doubles with each failure in a row, and is
tried again once it ends; its success clears the count. Written by hand: the balancing
libraries for HTTP are proxies or service meshes, and this is a few lines of state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

# A server down for good is tried again at least this often (in back-off periods).
MAX_BACKOFF_DOUBLINGS = 6


@dataclass
class Endpoint:
    """One server's API root and what the pool knows of it."""

    url: str
    outstanding: int = 0
    failures: int = 0
    down_until: float = 0.0

    def up(self, now: float) -> bool:
        return now >= self.down_until


class EndpointPool:
    """The servers of one model, chosen by fewest outstanding requests, with back-off."""

    def __init__(self, urls: list[str], backoff_s: float) -> None:
        self.endpoints = [Endpoint(url) for url in urls]
        self.backoff_s = backoff_s

    def choose(self) -> Endpoint:
        """The server up with the fewest outstanding requests; when all are out, the one
        whose back-off ends first."""
        now = time.monotonic()
        up = [endpoint for endpoint in self.endpoints if endpoint.up(now)]
        if up:
            return min(up, key=lambda endpoint: endpoint.outstanding)
        return min(self.endpoints, key=lambda endpoint: endpoint.down_until)

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Endpoint]:
        """A server for one request, waiting out its back-off if every server is out; it
        counts as outstanding until the block ends."""
        endpoint = self.choose()
        wait = endpoint.down_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        endpoint.outstanding += 1
        try:
            yield endpoint
        finally:
            endpoint.outstanding -= 1

    def failed(self, endpoint: Endpoint) -> None:
        """Take `endpoint` out for its next back-off period. The requests that were in
        flight when it went down fail together: only the first extends the period."""
        now = time.monotonic()
        if not endpoint.up(now):
            return
        doublings = min(endpoint.failures, MAX_BACKOFF_DOUBLINGS)
        endpoint.failures += 1
        endpoint.down_until = now + self.backoff_s * 2**doublings

    def succeeded(self, endpoint: Endpoint) -> None:
        """`endpoint` answered: its next failure starts the back-off afresh."""
        endpoint.failures = 0
