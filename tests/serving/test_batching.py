"""Dynamic batching: concurrent tasks merge into batches and each gets its own rows back."""

from __future__ import annotations

import threading

import grpc
import numpy as np
import pytest

from serving.batching import Batcher
from serving.errors import ServingError
from serving.server_config import BatchingOptions


class RecordingModel:
    """Doubles `x`; records batch sizes; can hold the first batch until released."""

    def __init__(self, hold_first: bool = False):
        self.batch_sizes: list[int] = []
        self.first_started = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, signature: str, inputs: dict) -> dict:
        self.batch_sizes.append(len(inputs["x"]))
        self.first_started.set()
        self.release.wait()
        return {"y": inputs["x"] * 2, "rows": np.arange(len(inputs["x"]))}


def wait_for_queued(batcher, rows: int, model: RecordingModel, release: bool = True) -> None:
    """Waits (bounded) until `rows` rows are queued, then lets the held batch finish."""
    try:
        for _ in range(6000):
            if batcher.queued_rows() >= rows:
                break
            threading.Event().wait(0.01)
        assert batcher.queued_rows() == rows
    finally:
        if release or batcher.queued_rows() != rows:
            model.release.set()


def run_concurrently(batcher, tasks: list[np.ndarray]) -> list:
    results: list = [None] * len(tasks)

    def call(index: int) -> None:
        try:
            results[index] = batcher("sig", {"x": tasks[index]})
        except ServingError as exc:
            results[index] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(tasks))]
    for thread in threads:
        thread.start()
    return results, threads


def test_queued_tasks_run_as_one_batch_and_get_their_own_rows():
    model = RecordingModel(hold_first=True)
    batcher = Batcher(
        model, BatchingOptions(max_batch_size=64, batch_timeout_micros=0, num_batch_threads=1)
    )
    first, first_threads = run_concurrently(batcher, [np.array([100.0])])
    model.first_started.wait()
    # While the only batch thread is busy, eight more tasks queue up and form the next batch.
    tasks = [np.arange(i + 1, dtype=np.float32) + 10 * i for i in range(8)]
    results, threads = run_concurrently(batcher, tasks)
    wait_for_queued(batcher, sum(len(t) for t in tasks), model)
    for thread in first_threads + threads:
        thread.join()
    batcher.close()
    assert model.batch_sizes == [1, sum(len(t) for t in tasks)]
    np.testing.assert_array_equal(first[0]["y"], [200.0])
    for task, result in zip(tasks, results, strict=True):
        np.testing.assert_array_equal(result["y"], task * 2)


def test_timeout_waits_for_more_tasks_and_allowed_sizes_pad():
    model = RecordingModel()
    options = BatchingOptions(
        max_batch_size=8,
        batch_timeout_micros=200_000,
        num_batch_threads=1,
        allowed_batch_sizes=(4, 8),
    )
    batcher = Batcher(model, options)
    results, threads = run_concurrently(batcher, [np.array([1.0]), np.array([2.0, 3.0])])
    for thread in threads:
        thread.join()
    batcher.close()
    assert model.batch_sizes in ([4], [4, 4])
    assert sorted(r["y"].tolist() for r in results) == [[2.0], [4.0, 6.0]]


def test_tasks_that_cannot_be_batched_get_tf_serving_errors():
    batcher = Batcher(RecordingModel(), BatchingOptions(max_batch_size=2, num_batch_threads=1))
    cases = [
        ({"x": np.array(1.0)}, "Batching Run() input tensors must have at least one dimension"),
        (
            {"x": np.zeros(2), "z": np.zeros(3)},
            "Batching Run() input tensors must have equal 0th-dimension size",
        ),
        ({"x": np.zeros(3)}, "Task size 3 is larger than maximum input batch size 2"),
    ]
    for inputs, message in cases:
        with pytest.raises(ServingError) as caught:
            batcher("sig", inputs)
        assert (caught.value.code, caught.value.message) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            message,
        )
    batcher.close()


def test_tasks_with_different_trailing_shapes_run_in_separate_batches():
    model = RecordingModel(hold_first=True)
    batcher = Batcher(model, BatchingOptions(max_batch_size=16, num_batch_threads=1))
    first, first_threads = run_concurrently(batcher, [np.zeros((1, 2))])
    model.first_started.wait()
    results, threads = run_concurrently(batcher, [np.ones((2, 2)), np.ones((3, 5))])
    wait_for_queued(batcher, 5, model)
    for thread in first_threads + threads:
        thread.join()
    batcher.close()
    assert model.batch_sizes[0] == 1 and sorted(model.batch_sizes[1:]) == [2, 3]
    assert [r["y"].shape for r in results] == [(2, 2), (3, 5)]


def test_a_full_queue_answers_unavailable_and_close_drains():
    model = RecordingModel(hold_first=True)
    batcher = Batcher(
        model, BatchingOptions(max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1)
    )
    first, first_threads = run_concurrently(batcher, [np.zeros(1)])
    model.first_started.wait()
    queued, queued_threads = run_concurrently(batcher, [np.zeros(1)])
    wait_for_queued(batcher, 1, model, release=False)
    try:
        with pytest.raises(ServingError) as caught:
            batcher("sig", {"x": np.zeros(1)})
        assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    finally:
        model.release.set()
    for thread in first_threads + queued_threads:
        thread.join()
    batcher.close()
    assert "y" in queued[0]
    # After close (a version being unloaded), a late request still gets an answer.
    assert batcher("sig", {"x": np.ones(1)})["y"].tolist() == [2.0]
