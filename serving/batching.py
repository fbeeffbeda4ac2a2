"""Dynamic batching of concurrent signature runs, like TF Serving's `--enable_batching`.

Each request is a task of one or more rows. Tasks for the same signature wait in a queue until
`max_batch_size` rows are there or the oldest has waited `batch_timeout_micros`, and a batch
thread is free; they then run as one batch and each gets its own rows back. Only tasks whose
inputs agree on every dimension but the first are batched together (others wait for the next
batch), so no padding is ever needed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from serving import errors
from serving.errors import ServingError
from serving.server_config import BatchingOptions

Runner = Callable[[str, dict], dict]
BatchObserver = Callable[[int, float], None]


@dataclass
class _Task:
    inputs: dict
    rows: int
    key: tuple
    enqueued_at: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    outputs: dict | None = None
    error: ServingError | None = None


def task_rows(inputs: dict) -> int:
    """The batch size of one task; TF Serving's errors when inputs cannot be batched."""
    sizes = set()
    for array in inputs.values():
        if array.ndim == 0:
            raise errors.invalid_argument(
                "Batching Run() input tensors must have at least one dimension"
            )
        sizes.add(array.shape[0])
    if len(sizes) != 1:
        raise errors.invalid_argument(
            "Batching Run() input tensors must have equal 0th-dimension size"
        )
    return sizes.pop()


class _SignatureQueue:
    def __init__(
        self,
        signature_name: str,
        run: Runner,
        options: BatchingOptions,
        pool: ThreadPoolExecutor,
        slots: threading.Semaphore,
        observe: BatchObserver | None,
    ):
        self._signature = signature_name
        self._run = run
        self._options = options
        self._pool = pool
        self._slots = slots
        self._observe = observe
        self._timeout = options.batch_timeout_micros / 1e6
        self._capacity = options.max_enqueued_batches * options.max_batch_size
        self._tasks: deque[_Task] = deque()
        self._rows = 0
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(
            target=self._collect, name=f"batch-{signature_name}", daemon=True
        )
        self._thread.start()

    def submit(self, task: _Task) -> bool:
        """Queues `task`; False once the queue is closed."""
        with self._cond:
            if self._closed:
                return False
            if self._rows + task.rows > self._capacity:
                raise errors.unavailable(
                    "The batch scheduling queue to which this task was submitted is full"
                )
            self._tasks.append(task)
            self._rows += task.rows
            self._cond.notify()
        return True

    def queued_rows(self) -> int:
        with self._cond:
            return self._rows

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _collect(self) -> None:
        while True:
            with self._cond:
                while not self._tasks and not self._closed:
                    self._cond.wait()
                if not self._tasks:
                    return
            # Tasks keep arriving while every batch thread is busy, so batches grow under load.
            self._slots.acquire()
            with self._cond:
                deadline = self._tasks[0].enqueued_at + self._timeout
                while not self._closed and self._rows < self._options.max_batch_size:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                batch = self._take_batch()
            self._pool.submit(self._process, batch)

    def _take_batch(self) -> list[_Task]:
        key = self._tasks[0].key
        batch, rest, rows = [], deque(), 0
        for task in self._tasks:
            if task.key == key and rows + task.rows <= self._options.max_batch_size:
                batch.append(task)
                rows += task.rows
            else:
                rest.append(task)
        self._tasks = rest
        self._rows -= rows
        return batch

    def _padded_size(self, rows: int) -> int:
        return next((size for size in self._options.allowed_batch_sizes if size >= rows), rows)

    def _process(self, batch: list[_Task]) -> None:
        rows = sum(task.rows for task in batch)
        started = time.monotonic()
        try:
            inputs = {
                key: np.concatenate([task.inputs[key] for task in batch])
                if len(batch) > 1
                else value
                for key, value in batch[0].inputs.items()
            }
            padded = self._padded_size(rows)
            if padded > rows:
                # Pad with copies of the first row, as TF Serving does for allowed_batch_sizes.
                inputs = {
                    key: np.concatenate([value, np.repeat(value[:1], padded - rows, axis=0)])
                    for key, value in inputs.items()
                }
            outputs = self._run(self._signature, inputs)
            for value in outputs.values():
                if value.ndim == 0 or value.shape[0] != padded:
                    raise errors.failed_precondition(
                        "Batched output tensor's 0th dimension does not equal the sum of the 0th "
                        "dimension sizes of the input tensors"
                    )
            offset = 0
            for task in batch:
                task.outputs = {
                    key: value[offset : offset + task.rows] for key, value in outputs.items()
                }
                offset += task.rows
        except ServingError as exc:
            for task in batch:
                task.error = exc
        except Exception as exc:  # noqa: BLE001 - every waiting request must get an answer
            for task in batch:
                task.error = errors.internal(f"Batched run failed: {exc}")
        finally:
            for task in batch:
                task.done.set()
            self._slots.release()
            if self._observe:
                self._observe(rows, started - batch[0].enqueued_at)


class Batcher:
    """Runs signatures through per-signature batch queues sharing `num_batch_threads` threads."""

    def __init__(self, run: Runner, options: BatchingOptions, observe: BatchObserver | None = None):
        self._run = run
        self._options = options
        self._observe = observe
        self._pool = ThreadPoolExecutor(options.num_batch_threads, thread_name_prefix="batch")
        self._slots = threading.Semaphore(options.num_batch_threads)
        self._queues: dict[str, _SignatureQueue] = {}
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self, signature_name: str, inputs: dict) -> dict:
        rows = task_rows(inputs)
        if rows > self._options.max_batch_size:
            raise errors.invalid_argument(
                f"Task size {rows} is larger than maximum input batch size "
                f"{self._options.max_batch_size}"
            )
        key = tuple(sorted((name, array.shape[1:]) for name, array in inputs.items()))
        task = _Task(inputs=inputs, rows=rows, key=key)
        queue = self._queue(signature_name)
        if queue is None or not queue.submit(task):
            # The version is being unloaded: answer this last request directly.
            return self._run(signature_name, inputs)
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def _queue(self, signature_name: str) -> _SignatureQueue | None:
        with self._lock:
            if self._closed:
                return None
            queue = self._queues.get(signature_name)
            if queue is None:
                queue = _SignatureQueue(
                    signature_name, self._run, self._options, self._pool, self._slots, self._observe
                )
                self._queues[signature_name] = queue
            return queue

    def queued_rows(self) -> int:
        """Rows waiting for a batch, over every signature (the queue depth)."""
        with self._lock:
            queues = list(self._queues.values())
        return sum(queue.queued_rows() for queue in queues)

    def close(self) -> None:
        """Finishes every queued task, then stops the batch threads."""
        with self._lock:
            self._closed = True
            queues = list(self._queues.values())
        for queue in queues:
            queue.close()
        self._pool.shutdown(wait=True)
