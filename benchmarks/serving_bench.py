"""Serving speed: REST and gRPC against the in-process signature call, in the same run.

The server runs as its own process (`clickpipe serve`, as in production); the clients and the
in-process baseline (`tf.saved_model.load` + the `serving_default` signature) run here, on the
same serialized tf.Examples. Measured, each with a bounded number of requests:

- single requests at concurrency 1: p50/p99 latency; added latency = server p50 - in-process p50;
- single requests at fixed concurrency: throughput;
- batched requests (`--batch` rows each): rows/s against in-process calls on the same batches;
- the same single requests with `--enable_batching`: rows/s against in-process batched rows/s.

Every measurement is repeated `--rounds` times, the baseline and the server one after the other
in each round, and the tables show the median over the rounds (ratios: the median of each
round's ratio; with an even number of rounds, the lower middle value). For context they also
show the server's own mean time per request and its TensorFlow part (from the server's
Prometheus metrics, `:tensorflow:serving:request_latency` and `runtime_latency`), and the
server's engine called in this process ("in-process session": the signature run as one
session call, as TF Serving runs it), which is faster than the signature call of the baseline.

Without `--model_base_path` the model is a stand-in with the clickpipe model contract (parses
the default config's raw features, decodes the PNG creative, small dense network), built here.

    python -m benchmarks.serving_bench [--model_base_path DIR] [--rounds N] [--json results.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODEL_NAME = "clickpipe"
METRICS_PATH = "/monitoring/prometheus/metrics"


def _quiet() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def build_stand_in(export_dir: Path, registry) -> Path:
    """A SavedModel with `serving_default` on raw-feature tf.Examples, like the trainer's."""
    import tensorflow as tf

    from trainer.features import Kind

    spec = {
        f.name: tf.io.FixedLenFeature([], tf.float32, f.default)
        if f.kind is Kind.NUMERIC
        else tf.io.FixedLenFeature([], tf.string, "")
        for f in registry.features
    }
    size = registry.image_size

    class StandIn(tf.Module):
        def __init__(self):
            super().__init__()
            rng = tf.random.Generator.from_seed(7)
            self.embeddings = {
                f.name: tf.Variable(rng.normal([1000, 8]))
                for f in registry.features
                if f.kind in (Kind.CATEGORICAL, Kind.TEXT)
            }
            self.kernel = tf.Variable(rng.normal([3, 3, 3, 8]) * 0.1)
            width = 8 * len(self.embeddings) + len(registry.of_kind(Kind.NUMERIC)) + 8
            self.hidden = tf.Variable(rng.normal([width, 64]) * 0.1)
            self.out = tf.Variable(rng.normal([64, 1]) * 0.1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            parsed = tf.io.parse_example(examples, spec)
            parts = []
            for f in registry.features:
                if f.kind is Kind.CATEGORICAL:
                    ids = tf.strings.to_hash_bucket_fast(parsed[f.name], 1000)
                    parts.append(tf.nn.embedding_lookup(self.embeddings[f.name], ids))
                elif f.kind is Kind.TEXT:
                    tokens = tf.strings.split(tf.strings.lower(parsed[f.name]))
                    ids = tf.ragged.map_flat_values(tf.strings.to_hash_bucket_fast, tokens, 1000)
                    vectors = tf.ragged.map_flat_values(
                        tf.nn.embedding_lookup, self.embeddings[f.name], ids
                    )
                    parts.append(tf.reduce_mean(vectors, axis=1))
                elif f.kind is Kind.NUMERIC:
                    parts.append(tf.math.log1p(tf.abs(parsed[f.name]))[:, None])
                else:
                    images = tf.map_fn(
                        lambda png: tf.image.resize(
                            tf.io.decode_png(png, channels=3), [size, size]
                        ),
                        parsed[f.name],
                        fn_output_signature=tf.float32,
                    )
                    features = tf.nn.relu(tf.nn.conv2d(images / 255.0, self.kernel, 2, "SAME"))
                    parts.append(tf.reduce_mean(features, axis=[1, 2]))
            hidden = tf.nn.relu(tf.concat(parts, axis=1) @ self.hidden)
            return {"click_probability": tf.sigmoid(hidden @ self.out)}

    module = StandIn()
    tf.saved_model.save(module, str(export_dir), signatures={"serving_default": module.serve})
    return export_dir


def make_examples(registry, count: int, seed: int = 7) -> list[bytes]:
    """Synthetic impressions of the config's features, PNG creatives included, as tf.Examples."""
    from PIL import Image

    from trainer.features import Kind
    from trainer.local import to_example

    rng = np.random.default_rng(seed)
    words = ["save", "sale", "free", "delivery", "new", "shoes", "travel", "deal", "today", "best"]
    creatives = []
    for _ in range(16):
        buffer = io.BytesIO()
        pixels = rng.integers(0, 255, (registry.image_size, registry.image_size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(buffer, format="PNG")
        creatives.append(buffer.getvalue())
    examples = []
    for row in range(count):
        values = {}
        for f in registry.features:
            if f.kind is Kind.NUMERIC:
                values[f.name] = float(rng.uniform(0, 10))
            elif f.kind is Kind.TEXT:
                values[f.name] = " ".join(rng.choice(words, 5))
            elif f.kind is Kind.IMAGE:
                values[f.name] = creatives[row % len(creatives)]
            else:
                values[f.name] = f"{f.name}-{rng.integers(0, 20)}"
        examples.append(to_example(values, registry, with_label=False).SerializeToString())
    return examples


def _run(call, batches: list[list[bytes]], concurrency: int, server_times=None) -> dict:
    """Sends every batch once with `concurrency` threads; latency stats and throughput.

    `server_times`, if given, returns the server's cumulative request and TensorFlow times;
    the run then also reports their mean per request over the timed requests.
    """
    latencies: list[float] = []
    lock = threading.Lock()

    def one(batch: list[bytes]) -> None:
        started = time.perf_counter()
        call(batch)
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)

    with ThreadPoolExecutor(concurrency) as pool:
        # Untimed warmup on the same threads: per-thread connections and TF contexts.
        list(pool.map(call, batches[: 5 * concurrency]))
        before = server_times() if server_times else None
        started = time.perf_counter()
        list(pool.map(one, batches))
        wall = time.perf_counter() - started
    latencies.sort()
    rows = sum(len(b) for b in batches)
    result = {
        "requests": len(batches),
        "rows": rows,
        "concurrency": concurrency,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "requests_per_s": len(batches) / wall,
        "rows_per_s": rows / wall,
    }
    if before is not None:
        after = server_times()
        for key in ("request", "runtime"):
            count = after[f"{key}_count"] - before[f"{key}_count"]
            result[f"server_{key}_ms"] = (after[f"{key}_sum"] - before[f"{key}_sum"]) / count / 1000
    return result


def _server_times(metrics_url: str) -> dict[str, float]:
    """Cumulative Predict time (µs) and count in the server, whole request and TensorFlow run."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=30) as response:
        text = response.read().decode("utf-8")
    totals = dict.fromkeys(("request_sum", "request_count", "runtime_sum", "runtime_count"), 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name.removeprefix(":tensorflow:serving:").replace("_latency", "")
            if key in totals and sample.labels.get("API") == "Predict":
                totals[key] += sample.value
    return totals


def _start_server(base: Path, extra: list[str]) -> tuple[subprocess.Popen, str, str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "serve",
            "--model_base_path",
            str(base),
            "--model_name",
            MODEL_NAME,
            "--port",
            "0",
            "--rest_api_port",
            "0",
            "--file_system_poll_wait_seconds",
            "0",
            *extra,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    for line in process.stdout:
        match = re.search(r"gRPC on (\S+), REST on (http://\S+?)[ ,]", line)
        if match:
            return process, match.group(2), match.group(1)
    raise RuntimeError(f"clickpipe serve exited with {process.wait()}")


class _InProcess:
    """A `ModelServer` in this process, stopped like the subprocess one."""

    def __init__(self, server):
        self.server = server

    def terminate(self) -> None:
        self.server.stop()

    def wait(self, timeout: float) -> int:
        return 0


def _start_in_process(base: Path, extra: list[str]) -> tuple[_InProcess, str, str]:
    from serving.server import ModelServer, ServerOptions
    from serving.server_config import read_batching_parameters

    files = [a.split("=", 1)[1] for a in extra if a.startswith("--batching_parameters_file=")]
    options = ServerOptions(
        file_system_poll_wait_seconds=0,
        batching=read_batching_parameters(files[0]) if files else None,
        prometheus_path=METRICS_PATH,
    )
    server = ModelServer(str(base), MODEL_NAME, rest_port=0, grpc_port=0, options=options).start()
    return _InProcess(server), server.rest_url, server.grpc_target


def _stop_server(process) -> None:
    process.terminate()
    process.wait(timeout=120)


def _measure_server(rest_url: str, grpc_target: str, plan: dict) -> dict:
    from serving.client import GrpcClient, RestClient

    results = {}
    for name, make in (
        ("rest", lambda: RestClient(rest_url)),
        ("grpc", lambda: GrpcClient(grpc_target)),
    ):
        caller = _PerThreadClient(make)
        caller(plan["warmup"][0])
        results[name] = {
            key: _run(caller, batches, concurrency, lambda: _server_times(rest_url + METRICS_PATH))
            for key, (batches, concurrency) in plan["runs"].items()
        }
        caller.close()
    return results


class _PerThreadClient:
    """Calls Predict with one client (one connection) per thread."""

    def __init__(self, make):
        self._make = make
        self._local = threading.local()
        self._clients = []

    def __call__(self, batch: list[bytes]) -> None:
        if not hasattr(self._local, "client"):
            self._local.client = self._make()
            self._clients.append(self._local.client)
        self._local.client.predict(MODEL_NAME, {"examples": batch})

    def close(self) -> None:
        for client in self._clients:
            client.close()


def _median_of_rounds(rounds: list):
    """Each number of nested result dicts as its median over the rounds (the lower middle one)."""
    if isinstance(rounds[0], dict):
        return {key: _median_of_rounds([r[key] for r in rounds]) for key in rounds[0]}
    return statistics.median_low(rounds)


def _ratios(in_process: dict, server: dict, server_batching: dict) -> dict:
    return {
        api: {
            "added_p50_ms_single": server[api]["single_c1"]["p50_ms"] - in_process["single_c1"]["p50_ms"],
            "throughput_ratio_single_cN": server[api]["single_cN"]["rows_per_s"]
            / in_process["single_cN"]["rows_per_s"],
            "throughput_ratio_batched": server[api]["batched"]["rows_per_s"] / in_process["batched"]["rows_per_s"],
            "dynamic_batching_ratio": server_batching[api]["single_c16"]["rows_per_s"]
            / in_process["batched"]["rows_per_s"],
        }
        for api in ("rest", "grpc")
    }


def main(argv: list[str] | None = None) -> int:
    """Runs every measurement, prints the tables, optionally writes JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serving_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model_base_path", help="a served model's base path (default: build a stand-in)")
    parser.add_argument("--requests", type=int, default=400, help="single requests per measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="clients for the throughput runs")
    parser.add_argument("--batch", type=int, default=64, help="rows per batched request")
    parser.add_argument("--batched_requests", type=int, default=40, help="batched requests per measurement")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="repeat every measurement this many times and report the medians (default: 5)",
    )
    parser.add_argument(
        "--inter_op",
        type=int,
        default=1,
        help="TensorFlow inter-op threads, for the baseline and the server (default: 1)",
    )
    parser.add_argument(
        "--intra_op",
        type=int,
        default=0,
        help="TensorFlow intra-op threads; 0 lets TensorFlow choose (default: 0)",
    )
    parser.add_argument(
        "--in_process_server",
        action="store_true",
        help="run the server inside this process instead of as `clickpipe serve`",
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    _quiet()
    import tensorflow as tf

    from pipeline.config import load_config
    from serving.servable import Servable

    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
    threads = [
        f"--tensorflow_inter_op_parallelism={args.inter_op}",
        f"--tensorflow_intra_op_parallelism={args.intra_op}",
    ]
    start = _start_in_process if args.in_process_server else _start_server
    registry = load_config().registry()
    with tempfile.TemporaryDirectory() as scratch:
        if args.model_base_path:
            base = Path(args.model_base_path)
        else:
            base = Path(scratch) / MODEL_NAME
            build_stand_in(base / "1", registry)
        version_dir = max((p for p in base.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        examples = make_examples(registry, 512)
        singles = [[examples[i % len(examples)]] for i in range(args.requests)]
        batched = [
            [examples[(i * args.batch + j) % len(examples)] for j in range(args.batch)]
            for i in range(args.batched_requests)
        ]
        plan = {
            "warmup": [examples[:1]],
            "runs": {
                "single_c1": (singles, 1),
                "single_cN": (singles, args.concurrency),
                "batched": (batched, 2),
            },
        }

        loaded = tf.saved_model.load(str(version_dir))
        signature = loaded.signatures["serving_default"]

        def in_process(batch: list[bytes]) -> None:
            signature(examples=tf.constant(batch))["click_probability"].numpy()

        # The server's own engine (a session call, as TF Serving runs a signature), for context.
        engine = Servable.load(MODEL_NAME, int(version_dir.name), str(version_dir))

        def in_process_session(batch: list[bytes]) -> None:
            engine.run_unbatched("serving_default", {"examples": np.array(batch, dtype=object)})

        in_process(examples[:1])
        in_process(batched[0])
        monitoring = Path(scratch) / "monitoring.config"
        monitoring.write_text("prometheus_config { enable: true }\n")
        metrics = [f"--monitoring_config_file={monitoring}"]
        rounds = []
        process, rest_url, grpc_target = start(base, [*threads, *metrics])
        try:
            # Baseline and server one after the other in every round: a busy phase of a shared
            # machine hits both.
            for _ in range(args.rounds):
                rounds.append(
                    {
                        "in_process": {k: _run(in_process, b, c) for k, (b, c) in plan["runs"].items()},
                        "in_process_session": {
                            k: _run(in_process_session, b, c)
                            for k, (b, c) in plan["runs"].items()
                            if k != "single_cN"
                        },
                        "server": _measure_server(rest_url, grpc_target, plan),
                    }
                )
        finally:
            _stop_server(process)

        batching = Path(scratch) / "batching.config"
        batching.write_text(
            f"max_batch_size {{ value: {args.batch} }}\nbatch_timeout_micros {{ value: 2000 }}\n"
            "num_batch_threads { value: 2 }\n"
        )
        dynamic_plan = {"warmup": plan["warmup"], "runs": {"single_c16": (singles, 16)}}
        process, rest_url, grpc_target = start(base, [*threads, *metrics, f"--batching_parameters_file={batching}"])
        try:
            for measured in rounds:
                measured["server_batching"] = _measure_server(rest_url, grpc_target, dynamic_plan)
        finally:
            _stop_server(process)

    for measured in rounds:
        measured["ratios"] = _ratios(measured["in_process"], measured["server"], measured["server_batching"])
    results = {
        "model": str(version_dir) if args.model_base_path else "stand-in (clickpipe contract)",
        "rounds": len(rounds),
        **_median_of_rounds(rounds),
        "all_rounds": rounds,
    }
    print(render(results, args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def render(results: dict, args: argparse.Namespace) -> str:
    """The results as a Markdown table, with the ratios and targets."""
    where = "in the benchmark process" if args.in_process_server else "`clickpipe serve` (own process)"
    lines = [
        f"model: {results['model']}; server: {where}; TensorFlow inter-op threads {args.inter_op}, "
        f"intra-op {args.intra_op or 'auto'}; medians of {results['rounds']} rounds",
        "",
        "| path | run | requests | rows/request | concurrency | p50 ms | p99 ms | rows/s "
        "| server ms/request | TF run ms/request |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [("in-process", k, v) for k, v in results["in_process"].items()]
    rows += [("in-process session", k, v) for k, v in results["in_process_session"].items()]
    for api in ("rest", "grpc"):
        rows += [(api, k, v) for k, v in results["server"][api].items()]
        rows += [(f"{api} + batching", k, v) for k, v in results["server_batching"][api].items()]
    for path, run, r in rows:
        per_request = r["rows"] // r["requests"]
        server = (
            f"{r['server_request_ms']:.2f} | {r['server_runtime_ms']:.2f}" if "server_request_ms" in r else " | "
        )
        lines.append(
            f"| {path} | {run} | {r['requests']} | {per_request} | {r['concurrency']} "
            f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['rows_per_s']:.0f} | {server} |"
        )
    lines += ["", "| ratio (median of rounds) | REST | gRPC | target |", "|---|---|---|---|"]
    ratios = results["ratios"]
    for key, label, target in (
        ("added_p50_ms_single", "added median latency, single request (ms)", "< 1 ms"),
        (
            "throughput_ratio_single_cN",
            f"single-row throughput at concurrency {args.concurrency} / in-process",
            "",
        ),
        (
            "throughput_ratio_batched",
            f"batched ({args.batch} rows) throughput / in-process batched",
            ">= 0.5",
        ),
        (
            "dynamic_batching_ratio",
            "single rows with --enable_batching (c=16) / in-process batched",
            "",
        ),
    ):
        lines.append(f"| {label} | {ratios['rest'][key]:.2f} | {ratios['grpc'][key]:.2f} | {target} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
