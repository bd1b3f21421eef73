"""Group commit for intake writes on SQLite.

SQLite has one writer at a time. When concurrent requests each open their own write
transaction they queue in SQLite's busy handler, which sleeps in growing steps (1, 2, 5, 10 ...
100 ms), and every one of them pays its own commit. Here a single thread takes the waiting
write jobs and runs as many as are queued in one transaction: one lock, one commit, no sleeping.

A job is a function of a `Session` that writes and returns a result; it must not commit or
roll back. If any job of a batch fails, the batch is rolled back and every job is run again in
its own transaction, so a failure (a duplicate key, a bad reference) reaches only its caller.

On PostgreSQL, which has row locks and many writers, a job simply runs in its own transaction
in the calling thread.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from core.threads import in_thread

T = TypeVar("T")
Job = Callable[[Session], Any]
log = logging.getLogger(__name__)

MAX_BATCH = 64


class BatchWriter:
    def __init__(self, engine: Engine) -> None:
        # Weak: the registry below is keyed by the engine, which must stay collectable.
        self._engine = weakref.ref(engine)
        self._sqlite = engine.dialect.name == "sqlite"
        self._jobs: queue.SimpleQueue[tuple[Job, Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def run(self, job: Callable[[Session], T]) -> T:
        """Run `job` in a write transaction and return its result (blocks: call from a thread)."""
        if not self._sqlite:
            return _alone(self._live_engine(), job)
        return self._submit(job).result()

    async def run_async(self, job: Callable[[Session], T]) -> T:
        """`run` from the event loop: on SQLite no thread waits for the writer meanwhile."""
        if not self._sqlite:
            return await in_thread(_alone, self._live_engine(), job)
        # Shielded: a cancelled caller must not cancel a job the writer may be running (as with
        # a thread, the job still completes; only its answer is dropped).
        return await asyncio.shield(asyncio.wrap_future(self._submit(job)))

    def _submit(self, job: Callable[[Session], T]) -> Future[T]:
        """Queue `job` for the writer thread; its future holds the result."""
        done: Future[T] = Future()
        self._jobs.put((job, done))
        self._ensure_thread()
        return done

    def _live_engine(self) -> Engine:
        engine = self._engine()
        if engine is None:
            raise RuntimeError("the engine of this intake writer is gone")
        return engine

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=_loop,
                    args=(weakref.ref(self), self._jobs),
                    daemon=True,
                    name="intake-writer",
                )
                self._thread.start()

    def _write(self, batch: list[tuple[Job, Future[Any]]]) -> None:
        try:
            engine = self._live_engine()
        except RuntimeError as exc:
            for _, done in batch:
                done.set_exception(exc)
            return
        if len(batch) > 1:
            try:
                with Session(engine) as session:
                    results = [job(session) for job, _ in batch]
                    session.commit()
            except Exception:
                log.debug("batch of %d rolled back; running its jobs one by one", len(batch))
            else:
                for (_, done), result in zip(batch, results, strict=True):
                    done.set_result(result)
                return
        for job, done in batch:
            try:
                done.set_result(_alone(engine, job))
            except BaseException as exc:
                done.set_exception(exc)


def _alone(engine: Engine, job: Callable[[Session], T]) -> T:
    with Session(engine) as session:
        result = job(session)
        session.commit()
        return result


def _loop(
    owner: weakref.ReferenceType[BatchWriter], jobs: queue.SimpleQueue[tuple[Job, Future[Any]]]
) -> None:
    """The writer thread; it ends when its writer is garbage (after at most one idle second)."""
    while True:
        try:
            first = jobs.get(timeout=1.0)
        except queue.Empty:
            if owner() is None:
                return
            continue
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                batch.append(jobs.get_nowait())
            except queue.Empty:
                break
        writer = owner()
        if writer is None:
            for _, done in batch:
                done.set_exception(RuntimeError("intake writer is gone"))
            return
        writer._write(batch)
        del writer


_writers: weakref.WeakKeyDictionary[Engine, BatchWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer_for(engine: Engine) -> BatchWriter:
    """The engine's writer (one per engine and process)."""
    with _writers_lock:
        found = _writers.get(engine)
        if found is None:
            found = _writers[engine] = BatchWriter(engine)
        return found
