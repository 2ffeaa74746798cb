"""Concurrent single-Term-ID requests grounded together.

The first request of a window opens a batch and arms a timer of ``window_s`` (at most 1 ms by
default); requests arriving before it fires join the batch, which is then grounded by one
``Grounder.ground_batch`` call on a worker thread (the core releases the GIL, so the event loop
keeps accepting requests meanwhile) and the results are split back, one per request.

With ``eager`` (the server's default) a request that finds no batch in flight does not wait for
the window: its batch closes as soon as the event loop has read the requests already received,
and the open batches close early when the last batch in flight returns. So a lightly loaded
server adds no wait, and a busy one gathers what arrives while the core works, never longer
than ``window_s``.

A batch holds one grounder and one k: requests on another snapshot (after a reload) or with
another k open their own batch, so every answer is exactly what ``grounder.ground`` would give.
Should the core refuse the batch, each query is grounded alone and only the refused ones fail.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor


class _Batch:
    __slots__ = ("closed", "futures", "grounder", "k", "queries")

    def __init__(self, grounder, k: int):
        self.grounder, self.k = grounder, k
        self.queries: list[list[str]] = []
        self.futures: list[asyncio.Future] = []
        self.closed = False


def ground_each_or_all(grounder, queries: list[list[str]], k: int, num_threads: int) -> list:
    """ground_batch on all queries; if it refuses, each query alone, an exception standing for
    the result of a refused one."""
    try:
        return list(grounder.ground_batch(queries, k=k, num_threads=num_threads))
    except (ValueError, TypeError):
        out = []
        for query in queries:
            try:
                out.append(grounder.ground(query, k=k))
            except (ValueError, TypeError) as error:
                out.append(error)
        return out


class Coalescer:
    """Gathers single-Term-ID requests for at most ``window_s`` or ``max_batch`` queries."""

    def __init__(
        self,
        executor: Executor,
        *,
        window_s: float = 0.001,
        max_batch: int = 256,
        num_threads: int = 0,
        eager: bool = True,
        on_batch=None,
    ):
        self._executor = executor
        self._window_s = window_s
        self._eager = eager
        self._in_flight = 0
        self._max_batch = max_batch
        self._num_threads = num_threads
        self._open: dict[tuple[int, int], _Batch] = {}
        self._on_batch = on_batch  # called with each batch's size (metrics)

    async def ground(self, grounder, term_id: list[str], k: int):
        """The GroundResult of ``term_id``, as ``grounder.ground(term_id, k=k)`` gives it."""
        loop = asyncio.get_running_loop()
        key = (id(grounder), k)
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = _Batch(grounder, k)
            if self._eager and self._in_flight == 0:
                loop.call_soon(self._close, key, batch)
            else:
                loop.call_later(self._window_s, self._close, key, batch)
        future = loop.create_future()
        batch.queries.append(term_id)
        batch.futures.append(future)
        if len(batch.queries) >= self._max_batch:
            self._close(key, batch)
        return await future

    def _close(self, key, batch: _Batch) -> None:
        if batch.closed:
            return
        batch.closed = True
        if self._open.get(key) is batch:
            del self._open[key]
        self._in_flight += 1
        asyncio.ensure_future(self._run(batch))

    async def _run(self, batch: _Batch) -> None:
        if self._on_batch is not None:
            self._on_batch(len(batch.queries))
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(
                self._executor,
                ground_each_or_all,
                batch.grounder,
                batch.queries,
                batch.k,
                self._num_threads,
            )
        except BaseException as error:  # noqa: BLE001 - every waiter must hear of it
            results = [error] * len(batch.futures)
        finally:
            self._in_flight -= 1
            if self._eager and self._in_flight == 0:
                for key, waiting in list(self._open.items()):
                    self._close(key, waiting)
        for future, result in zip(batch.futures, results):
            if future.done():  # its request was cancelled (client gone)
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
