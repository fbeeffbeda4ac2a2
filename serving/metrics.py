"""Prometheus metrics under TF Serving's names, in the text exposition format.

TF Serving exports its TensorFlow monitoring metrics with `/` turned into `:`, e.g.
`:tensorflow:serving:request_count{model_name,status}`, counters without a `_total` suffix.
prometheus_client would rename such counters, so the few families we keep are rendered here
(the tests parse the output with prometheus_client's parser).

Requests are labelled with their model name only when the server knows that model; any other
name is counted under `UNKNOWN_MODEL`, so clients cannot grow the page (TF Serving labels
every name a request carries).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Sequence

# TF Serving's latency buckets: Exponential(10, 1.8, 33), in microseconds.
LATENCY_BUCKETS_US = tuple(10 * 1.8**i for i in range(33))
# TF Serving's example-count buckets: Exponential(1, 2, 15).
EXAMPLE_COUNT_BUCKETS = tuple(2.0**i for i in range(15))
# Not a valid model name, so it never stands for a real model.
UNKNOWN_MODEL = "<unknown>"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{name}="{_escape(str(value))}"' for name, value in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


class _Counter:
    def __init__(self, name: str, help_text: str, label_names: Sequence[str]):
        self.name, self.help, self.label_names = name, help_text, tuple(label_names)
        self.values: dict[tuple, float] = {}

    def add(self, labels: tuple, amount: float = 1) -> None:
        self.values[labels] = self.values.get(labels, 0) + amount

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        lines += [
            f"{self.name}{_labels(self.label_names, k)} {_number(v)}"
            for k, v in self.values.items()
        ]
        return lines


class _Histogram:
    def __init__(
        self, name: str, help_text: str, label_names: Sequence[str], buckets: Sequence[float]
    ):
        self.name, self.help, self.label_names = name, help_text, tuple(label_names)
        self.buckets = tuple(buckets)
        self.values: dict[tuple, list[float]] = {}

    def observe(self, labels: tuple, value: float) -> None:
        # Per label set: one count per bucket, then +Inf, then the sum.
        cell = self.values.setdefault(labels, [0.0] * (len(self.buckets) + 2))
        cell[bisect_left(self.buckets, value)] += 1
        cell[-1] += value

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for labels, cell in self.values.items():
            running = 0.0
            for bound, count in zip((*self.buckets, float("inf")), cell[:-1], strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else _number(bound)
                bucket_labels = _labels(self.label_names, labels, 'le="' + le + '"')
                lines.append(f"{self.name}_bucket{bucket_labels} {_number(running)}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, labels)} {_number(cell[-1])}")
            lines.append(f"{self.name}_count{_labels(self.label_names, labels)} {_number(running)}")
        return lines


class Metrics:
    """The server's metrics; every method is thread-safe and cheap."""

    def __init__(self):
        self._lock = threading.Lock()
        self._models: frozenset[str] = frozenset()
        self._request_count = _Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            ("model_name", "status"),
        )
        self._request_latency = _Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ("model_name", "API", "entrypoint", "status"),
            LATENCY_BUCKETS_US,
        )
        self._runtime_latency = _Histogram(
            ":tensorflow:serving:runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ("model_name", "API", "runtime"),
            LATENCY_BUCKETS_US,
        )
        self._example_counts = _Histogram(
            ":tensorflow:serving:request_example_counts",
            "The number of tensorflow.Examples per request.",
            ("model",),
            EXAMPLE_COUNT_BUCKETS,
        )
        self._example_total = _Counter(
            ":tensorflow:serving:request_example_count_total",
            "The total number of tensorflow.Examples.",
            ("model",),
        )
        self._load_attempts = _Counter(
            ":tensorflow:cc:saved_model:load_attempt_count",
            "The number of times a SavedModel was successfully loaded.",
            ("model_path", "status"),
        )
        self._batch_size = _Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Tracks the batch size distribution on processing.",
            ("model_name",),
            EXAMPLE_COUNT_BUCKETS,
        )
        self._queuing_latency = _Histogram(
            ":tensorflow:serving:batching_session:queuing_latency",
            "Tracks the latency to wait for a batch to be formed (in microseconds).",
            ("model_name",),
            LATENCY_BUCKETS_US,
        )
        self._request_log = _Counter(
            ":clickpipe:serving:request_log_records",
            "Sampled requests written to (or dropped from) the request log.",
            ("model_name", "outcome"),
        )
        self._families = (
            self._request_count,
            self._request_latency,
            self._runtime_latency,
            self._example_counts,
            self._example_total,
            self._load_attempts,
            self._batch_size,
            self._queuing_latency,
            self._request_log,
        )

    def set_models(self, names) -> None:
        """The models requests may be labelled with; other names count as UNKNOWN_MODEL."""
        self._models = frozenset(names)

    def request(
        self, model: str, api: str, entrypoint: str, status: str, latency_us: float
    ) -> None:
        """One finished request (`status` is the canonical code name, e.g. `OK`)."""
        if model not in self._models:
            model = UNKNOWN_MODEL
        with self._lock:
            self._request_count.add((model, status))
            self._request_latency.observe((model, api, entrypoint, status), latency_us)

    def runtime(self, model: str, api: str, latency_us: float) -> None:
        """Time spent inside TensorFlow for one request."""
        with self._lock:
            self._runtime_latency.observe((model, api, "TF2"), latency_us)

    def examples(self, model: str, count: int) -> None:
        """The number of tf.Examples in one Classify/Regress request."""
        with self._lock:
            self._example_counts.observe((model,), count)
            self._example_total.add((model,), count)

    def model_load(self, model_path: str, status: str) -> None:
        """One load attempt of a version directory."""
        with self._lock:
            self._load_attempts.add((model_path, status))

    def batch(self, model: str, size: int, queued_seconds: float) -> None:
        """One processed dynamic batch."""
        with self._lock:
            self._batch_size.observe((model,), size)
            self._queuing_latency.observe((model,), queued_seconds * 1e6)

    def request_log(self, model: str, outcome: str, count: int = 1) -> None:
        """Sampled records `written` to or `dropped` from the request log."""
        with self._lock:
            self._request_log.add((model, outcome), count)

    def render(self) -> str:
        """The exposition text for `/monitoring/prometheus/metrics`."""
        with self._lock:
            lines = [line for family in self._families if family.values for line in family.render()]
        return "\n".join(lines) + "\n"
