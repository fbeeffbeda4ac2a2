"""Pushing versions while REST and gRPC clients send requests fails no request.

Clients run bounded request loops against a server that polls its base path. Meanwhile a new
version is pushed (saved_model.pb last, as the Pusher does), then a corrupt one. Every request
must succeed; answers move from version 1 to version 2 and stay there.
"""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from serving.client import GrpcClient, RestClient
from serving.manager import State
from serving.server import ModelServer, ServerOptions
from tests.serving import models

pytestmark = pytest.mark.integration

MAX_REQUESTS_PER_CLIENT = 3000
X, K = 1.5, "ab"


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _version_of(probability: float) -> int:
    for version in models.SLOPES:
        if probability == pytest.approx(models.expected_probability(version, X, K), rel=1e-5):
            return version
    raise AssertionError(f"{probability} is no version's answer")


class _Load:
    """Clients that each send at most MAX_REQUESTS_PER_CLIENT requests until stopped."""

    def __init__(self, clients):
        self.stop = threading.Event()
        self.answers: list[list[int]] = [[] for _ in clients]
        self.failures: list[str] = []
        self._threads = [
            threading.Thread(target=self._run, args=(c, a))
            for c, a in zip(clients, self.answers, strict=True)
        ]

    def _run(self, client, answers: list[int]) -> None:
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if self.stop.is_set():
                return
            try:
                outputs = client.predict(models.MODEL_NAME, {"x": [X], "k": [K]}, "predict_raw")
                answers.append(_version_of(float(outputs["click_probability"][0, 0])))
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and fails the test
                self.failures.append(repr(exc))

    def total(self) -> int:
        return sum(len(a) for a in self.answers)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        for thread in self._threads:
            thread.join()


def test_pushes_under_concurrent_load_fail_no_request(tmp_path):
    templates = models.build_model(tmp_path / "templates")
    base = tmp_path / "models" / models.MODEL_NAME
    shutil.copytree(templates / "1", base / "1")
    # No load retries: the corrupt version is reported END at once.
    options = ServerOptions(file_system_poll_wait_seconds=0.05, max_num_load_retries=0)
    with ModelServer(
        str(base), models.MODEL_NAME, rest_port=0, grpc_port=0, options=options
    ) as server:
        clients = [RestClient(server.rest_url) for _ in range(3)] + [
            GrpcClient(server.grpc_target) for _ in range(3)
        ]
        for client in clients:
            client.signature(models.MODEL_NAME, "predict_raw")  # metadata cached before the pushes
        with _Load(clients) as load:
            _wait_for(lambda: load.total() >= 60 or load.failures, "the first answers")
            shutil.copytree(
                templates / "2", base / "2", ignore=shutil.ignore_patterns("saved_model.pb")
            )
            shutil.copy(templates / "2" / "saved_model.pb", base / "2" / "saved_model.pb")
            _wait_for(
                lambda: server.manager.status(models.MODEL_NAME, 1)[0].state == State.END,
                "the swap",
            )
            (base / "3").mkdir()
            (base / "3" / "saved_model.pb").write_bytes(b"\x08\x01garbage")
            _wait_for(
                lambda: any(s.version == 3 for s in server.model_status(models.MODEL_NAME)),
                "version 3",
            )
            after = [len(answers) for answers in load.answers]
            _wait_for(
                lambda: (
                    all(len(a) >= n + 5 for a, n in zip(load.answers, after, strict=True))
                    or load.failures
                ),
                "every client's answers after the pushes",
            )
        for client in clients:
            client.close()
        statuses = {s.version: s for s in server.model_status(models.MODEL_NAME)}

    assert load.failures == []
    seen = [version for answers in load.answers for version in answers]
    assert set(seen) == {1, 2}
    for answers in load.answers:
        # Once a client has seen version 2 it never sees version 1 again.
        assert 1 not in answers[answers.index(2) :]
        assert answers[-5:] == [2] * 5
    assert statuses[2].state == State.AVAILABLE
    assert statuses[1].state == State.END and statuses[1].error is None
    assert statuses[3].state == State.END and statuses[3].error is not None
