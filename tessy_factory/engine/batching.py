"""Micro-batching of boundary-predictor calls across the samples in flight.

Each sample's coroutine asks for the labels of its own chunk; the requests that arrive
while the classifier is busy run together as its next batch, so one forward pass serves
many samples. Written by hand: it is a few lines over asyncio futures, and the libraries
that batch model calls bring a server along.
"""

from __future__ import annotations

import asyncio

from tessy_factory.engine.predictor import Labels, Predictor, PredictorWindow, Request


class LabelBatcher:
    """Collects `label` calls from concurrent coroutines into `predictor.label_chunks` batches."""

    def __init__(self, predictor: Predictor, max_batch: int) -> None:
        self.predictor = predictor
        self.max_batch = max_batch
        self._waiting: list[tuple[Request, asyncio.Future[Labels]]] = []
        self._worker: asyncio.Task | None = None
        # How well batching works: requests per batch is their ratio.
        self.requests = 0
        self.batches = 0
        self._latest: tuple[str, str, Labels] | None = None

    def label_now(self, context: str, chunk: str, window: PredictorWindow | None = None) -> Labels:
        """The labels computed at once, in this thread, as a local model's early stop needs
        them in the middle of generating; a `label` of the same chunk reuses them."""
        labels = self.predictor.label_chunks([(context, chunk, window)])[0]
        self._latest = (context, chunk, labels)
        return labels

    async def label(
        self, context: str, chunk: str, window: PredictorWindow | None = None
    ) -> Labels:
        """(offset in chunk, is style) for the chunk's tokens or words, in order; `window`
        is the sample's own (`Predictor.new_window`)."""
        if self._latest is not None and self._latest[:2] == (context, chunk):
            return self._latest[2]
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(((context, chunk, window), future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        # Let every coroutine that is ready this turn of the loop add its request first.
        await asyncio.sleep(0)
        while self._waiting:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            self.requests += len(batch)
            self.batches += 1
            try:
                # In a thread, so that server responses keep arriving meanwhile.
                results = await asyncio.to_thread(
                    self.predictor.label_chunks, [request for request, _ in batch]
                )
            except Exception as exc:  # every waiting sample gets the predictor's error
                for _, future in batch:
                    if not future.done():  # a cancelled sample no longer waits
                        future.set_exception(exc)
            else:
                for (_, future), labels in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(labels)
