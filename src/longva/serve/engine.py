"""The model behind the server: one worker thread, the bounded queue, jobs that can be cancelled.

    job = engine.job()                        # a scratch folder for this request's data URLs
    job.admit()                               # 429 when the queue is full
    await job.ticket.turn(disconnected)       # the model is ours
    turn = await job.call(prepare_turn, ...)  # runs in the model thread
    async for piece_or_answer in job.stream(turn, sampling): ...
    job.close()                               # always: cancels a running worker, frees the slot

The slot is released only when the worker thread has really stopped (a done-callback of its
future), so a disconnected client can never leave two generations running at once. Torch work
runs in the thread, so the event loop keeps serving other requests (429s, /v1/models, the page)
meanwhile.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from longva.serve.answering import Answer, PreparedTurn, Sampling, answer_turn
from longva.serve.api_errors import Cancelled
from longva.serve.budget import model_context
from longva.serve.settings import ServeSettings
from longva.serve.slots import GenerationSlots, Ticket

_END = object()


class Engine:
    def __init__(self, pipeline, settings: ServeSettings):
        self.pipe = pipeline
        self.settings = settings
        self.slots = GenerationSlots(settings.max_queue)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="longva-model")
        self.context = model_context(pipeline.model)
        self.tokens_per_frame = int(pipeline.model.tokens_per_frame)
        self.jobs: set[Job] = set()
        # the page counts prompt tokens while the model thread decodes: a tokenizer of its own,
        # as a fast tokenizer must not be used by two threads at once
        self.page_processor = copy.copy(pipeline.processor)
        self.page_processor.tokenizer = copy.deepcopy(pipeline.processor.tokenizer)
        self.page_lock = threading.Lock()

    def job(self) -> Job:
        return Job(self)

    def close(self) -> None:
        """At shutdown: ask every running worker to stop, drop queued work."""
        for job in list(self.jobs):
            job.cancel.set()
        self.executor.shutdown(wait=False, cancel_futures=True)


class Job:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.cancel = threading.Event()
        self.ticket: Ticket | None = None
        self.outcome = "failed"  # set to "completed" / "cancelled" by the code that knows
        self._future: asyncio.Future | None = None
        self._scratch: Path | None = None
        engine.jobs.add(self)

    @property
    def scratch(self) -> Path:
        """A private folder for files this request brought (decoded data URLs)."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="longva-serve-"))
        return self._scratch

    def admit(self) -> Ticket:
        self.ticket = self.engine.slots.admit()
        return self.ticket

    async def call(self, fn, *args):
        """fn(*args) in the model thread. If the caller is cancelled, the worker is told to stop
        and keeps the slot until it has (the future is shielded from the caller's cancel)."""
        loop = asyncio.get_running_loop()
        self._future = loop.run_in_executor(self.engine.executor, fn, *args)
        try:
            return await asyncio.shield(self._future)
        except asyncio.CancelledError:
            self.cancel.set()
            raise

    async def stream(self, turn: PreparedTurn, sampling: Sampling):
        """Yield text pieces as they are generated, then the Answer."""
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue = asyncio.Queue()

        def on_piece(piece: str) -> None:  # in the model thread
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

        pipe = self.engine.pipe
        self._future = loop.run_in_executor(
            self.engine.executor, answer_turn, pipe, turn, sampling, on_piece, self.cancel
        )
        self._future.add_done_callback(
            lambda _: pieces.put_nowait(_END)
        )  # after every piece (FIFO)
        try:
            while (item := await pieces.get()) is not _END:
                yield item
            answer: Answer = self._future.result()  # raises what the worker raised
            yield answer
        finally:
            if not self._future.done():
                self.cancel.set()  # the consumer left early: stop generating

    def close(self) -> None:
        """Free everything this job holds, once its worker (if any) has stopped."""
        future = self._future
        if future is not None and not future.done():
            self.cancel.set()
            future.add_done_callback(lambda f: self._finish(_outcome_of(f, "cancelled")))
        else:
            self._finish(self.outcome if future is None else _outcome_of(future, self.outcome))

    def _finish(self, outcome: str) -> None:
        if self.ticket is not None:
            self.ticket.release(outcome)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        self.engine.jobs.discard(self)


def _outcome_of(future: asyncio.Future, default: str) -> str:
    """completed / cancelled / failed from how the worker ended (retrieving its exception)."""
    if future.cancelled():
        return "cancelled"
    error = future.exception()
    if error is None:
        return default
    return "cancelled" if isinstance(error, Cancelled) else "failed"
