"""Before/after figures for the serving hardening issue (memory, limits, error answers).

    python -m benchmarks.serving_hardening soak --swaps 8 --failed 4 --megabytes 32 [--batching]
    python -m benchmarks.serving_hardening soak --swaps 5 --failed 5 --model_dir VERSION_DIR
    python -m benchmarks.serving_hardening attacks [--huge]

`soak` swaps versions in this process (a `ModelManager` polled by hand) and prints the RSS after
each swap and each failed load (a copy that fails its warmup); the versions are a stand-in with
`--megabytes` of weights and as much in its graph, or copies of a real `--model_dir`.
`attacks` starts `clickpipe serve` in a child process and measures the issue's attacks on it:
response bytes, time and memory of the child, its thread count, /metrics size.
Run it from a checkout to measure that checkout's `serving/` (e.g. a `git archive` of HEAD).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import gc
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.serving import models


def proc_status(pid: int | str, field: str) -> int:
    """A number from /proc/PID/status, e.g. `VmRSS` (kB) or `Threads`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """A process's resident set size (or its peak, `VmHWM`) in MB."""
    return proc_status(pid, field) / 1024


def _push(template: Path, target: Path) -> None:
    # Hard links: every version shares the template's weight files on disk.
    shutil.copytree(template, target, copy_function=os.link, ignore=shutil.ignore_patterns("saved_model.pb"))
    os.link(template / "saved_model.pb", target / "saved_model.pb")


def soak(swaps: int, failed: int, megabytes: int, batching: bool, model_dir: str | None) -> None:
    import numpy as np

    from serving import warmup
    from serving.manager import ManagerOptions, ModelManager
    from serving.server_config import BatchingOptions, single_model_config

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        template = Path(model_dir) if model_dir else models.build_weighty_version(work / "template", megabytes)
        failing = work / "failing"
        shutil.copytree(template, failing)
        # Loads, then fails its warmup: the whole version is built before the load fails.
        shutil.rmtree(failing / "assets.extra", ignore_errors=True)
        warmup.write_warmup_requests(
            str(failing), [warmup.predict_log({"x": np.zeros(1, np.float32)}, "no_such_signature")]
        )
        base = work / "m"
        _push(template, base / "1")
        options = ManagerOptions(batching=BatchingOptions(num_batch_threads=1) if batching else None)
        manager = ModelManager(single_model_config("m", str(base)), options)
        manager.start()
        what = model_dir or f"stand-in with {megabytes} MB of weights and as much in its graph"
        print(f"{what}, batching {batching}: RSS after the first load {rss_mb():.0f} MB")
        version = 1
        for swap in range(1, swaps + 1):
            version += 1
            _push(template, base / str(version))
            manager.poll_once()
            assert manager.resolve("m").version == version
            print(f"  swap {swap}: RSS {rss_mb():.0f} MB")
        good = version
        for attempt in range(1, failed + 1):
            version += 1
            _push(failing, base / str(version))
            manager.poll_once()
            assert manager.resolve("m").version == good  # the failed version never serves
            print(f"  failed load {attempt}: RSS {rss_mb():.0f} MB")
        gc.collect()
        print(f"  after gc.collect(): RSS {rss_mb():.0f} MB")
        manager.stop()
    finally:
        shutil.rmtree(work)


@dataclasses.dataclass
class Child:
    """`clickpipe serve` in a child process, with its ports and captured stderr."""

    process: subprocess.Popen
    rest_port: int
    grpc_port: int
    stderr_path: Path

    def rss(self, field: str = "VmRSS") -> float:
        return rss_mb(self.process.pid, field)

    def threads(self) -> int:
        return proc_status(self.process.pid, "Threads")

    def reset_peak(self) -> None:
        # Linux: writing 5 to clear_refs resets VmHWM to the current RSS.
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@contextlib.contextmanager
def child_server(work: Path):
    """Serves the conformance model with metrics on, from the checkout in the current folder."""
    base = models.build_model(work / models.MODEL_NAME)
    config = work / "models.config"
    config.write_text(models.conformance_config_text(base))
    monitoring = work / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }')
    stderr_path = work / "serve.stderr"
    command = [
        sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())", "serve",
        "--model_config_file", str(config), "--port", "0", "--rest_api_port", "0",
        "--monitoring_config_file", str(monitoring), "--file_system_poll_wait_seconds", "0",
    ]
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        for line in process.stdout:
            found = re.search(r"gRPC on 127.0.0.1:(\d+), REST on http://127.0.0.1:(\d+)", line)
            if found:
                break
        else:
            raise RuntimeError(f"the server did not start:\n{stderr_path.read_text()}")
        yield Child(process, int(found.group(2)), int(found.group(1)), stderr_path)
    finally:
        process.terminate()
        process.wait()


def _http(port: int, method: str, path: str, body: bytes = b"", timeout: float = 600) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body or None)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _raw(port: int, data: bytes, timeout: float = 60) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := connection.recv(65536):
                answer += chunk
    return answer


def nested_body(depth: int, target_bytes: int) -> bytes:
    """A `:predict` body whose `instances` are nested `depth` deep, with a bad signature_name."""
    leaves = max((target_bytes - 2 * depth - 40) // 2, 1)
    deep = "[" * depth + ",".join(["1"] * leaves) + "]" * depth
    return ('{"signature_name": 1, "instances": ' + deep + "}").encode()


def valid_body(target_bytes: int) -> bytes:
    """A valid columnar `predict_raw` body of about `target_bytes`."""
    rows = target_bytes // 11  # `0.5, ` and `"ab", `
    return json.dumps(
        {"signature_name": "predict_raw", "inputs": {"x": [0.5] * rows, "k": ["ab"] * rows}}
    ).encode()


PREDICT = f"/v1/models/{models.MODEL_NAME}:predict"


def attack_nested(child: Child, body: bytes) -> None:
    before = child.rss()
    child.reset_peak()
    started = time.perf_counter()
    status, answer = _http(child.rest_port, "POST", PREDICT, body)
    seconds = time.perf_counter() - started
    print(
        f"  nested body {len(body) / 1024:.0f} KB: {status}, answer {len(answer):,} bytes in "
        f"{seconds:.2f} s, server peak RSS +{child.rss('VmHWM') - before:.0f} MB"
    )


def attack_parallel_bodies(child: Child, count: int, size: int) -> None:
    body = valid_body(size)
    before = child.rss()
    child.reset_peak()
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        statuses = list(pool.map(lambda _: _http(child.rest_port, "POST", PREDICT, body)[0], range(count)))
    print(
        f"  {count} valid bodies of {len(body) / 2**20:.1f} MiB at once: statuses {statuses}, "
        f"server RSS before {before:.0f} MB, peak {child.rss('VmHWM'):.0f} MB"
    )


def attack_idle_sockets(child: Child, count: int, wait: float) -> None:
    threads_before = child.threads()
    sockets = [socket.create_connection(("127.0.0.1", child.rest_port)) for _ in range(count)]
    time.sleep(2)
    threads = child.threads()
    time.sleep(max(wait - 2, 0))
    closed = 0
    for sock in sockets:
        sock.setblocking(False)
        try:
            closed += sock.recv(65536) is not None
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        sock.close()
    print(
        f"  {count} idle sockets: server threads {threads_before} -> {threads}; after {wait:.0f} s "
        f"{closed} answered or closed by the server"
    )


def attack_grpc_dims(child: Child, elements: int) -> None:
    import grpc
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = models.MODEL_NAME
    request.model_spec.signature_name = "echo"
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=elements)])
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(dtype=1, tensor_shape=shape))
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([b"a"]))
    channel = grpc.insecure_channel(
        f"127.0.0.1:{child.grpc_port}", options=[("grpc.max_receive_message_length", -1)]
    )
    try:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=120)
        outcome = f"answer {response.ByteSize():,} bytes"
    except grpc.RpcError as exc:
        outcome = f"{exc.code().name}: {exc.details()[:120]}"
    channel.close()
    print(f"  gRPC Predict of {request.ByteSize()} bytes with dims [{elements}] and no values: {outcome}")


def attack_version_digits(child: Child, digits: int) -> None:
    status, answer = _http(child.rest_port, "GET", f"/v1/models/{models.MODEL_NAME}/versions/{'9' * digits}")
    print(f"  version of {digits} digits: {status} {answer[:100]!r}")


PROTOCOL_ERRORS = {
    "bad HTTP version": b"GET /v1/models/conformance HTTP/9.9\r\n\r\n",
    "TLS ClientHello": bytes.fromhex("16030100a5010000a10303") + os.urandom(32) + b"\x00" * 60,
    "a 70 KB header line": b"GET /v1/models/conformance HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
    "101 headers": b"GET /v1/models/conformance HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n",
}


def attack_protocol_errors(child: Child) -> None:
    for name, data in PROTOCOL_ERRORS.items():
        answer = _raw(child.rest_port, data)
        head, _, body = answer.partition(b"\r\n\r\n")
        content_type = re.search(rb"(?i)content-type: ([^\r]*)", head)
        print(
            f"  {name}: {head.split(b' ', 2)[1].decode() if head else '(no answer)'}, "
            f"{content_type.group(1).decode() if content_type else '-'}, body {body[:60]!r}"
        )


def attack_early_disconnects(child: Child, count: int) -> None:
    body = json.dumps(
        {"signature_name": "echo", "instances": [{"image_bytes": {"b64": "A" * 400_000}, "x": 1.0}]}
    ).encode()
    request = f"POST {PREDICT} HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    before = child.stderr().count("Traceback")
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", child.rest_port)) as sock:
            sock.sendall(request)
            sock.recv(1)  # the answer has started
    time.sleep(1)
    print(f"  {count} clients leaving mid-answer: {child.stderr().count('Traceback') - before} tracebacks logged")


def attack_metrics(child: Child, requests: int) -> None:
    path = "/monitoring/prometheus/metrics"
    before = len(_http(child.rest_port, "GET", path)[1])

    def send(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", child.rest_port, timeout=60)
        for i in range(offset, requests, 4):
            connection.request("POST", f"/v1/models/made-up-{i}:predict", body=b'{"instances": [1]}')
            connection.getresponse().read()
        connection.close()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(send, range(4)))
    started = time.perf_counter()
    after = len(_http(child.rest_port, "GET", path)[1])
    print(
        f"  /metrics after {requests} requests to made-up models: {before:,} -> {after:,} bytes "
        f"(rendered in {time.perf_counter() - started:.2f} s)"
    )


def attack_copy_saved_model_first(work: Path, wait: float) -> None:
    from serving.server import ModelServer, ServerOptions

    template = models.build_weighty_version(work / "copy-template", 1)  # it has variables
    base = work / "copied"
    (base / "1").mkdir(parents=True)
    known = {field.name for field in dataclasses.fields(ServerOptions)}
    extra = {"load_retry_interval_micros": 1_000_000} if "load_retry_interval_micros" in known else {}
    options = ServerOptions(file_system_poll_wait_seconds=0.2, **extra)
    shutil.copy(template / "saved_model.pb", base / "1" / "saved_model.pb")  # `cp -r`'s order
    with ModelServer(str(base), "m", rest_port=None, grpc_port=0, options=options) as server:
        for item in template.iterdir():
            if item.name != "saved_model.pb":
                (shutil.copytree if item.is_dir() else shutil.copy)(item, base / "1" / item.name)
        time.sleep(wait)
        [status] = server.model_status("m")
    print(
        f"  version copied saved_model.pb first (retry interval {extra or 'n/a'}): {wait:.0f} s "
        f"after the copy it is {status.state.name}" + (f" ({status.error.message[:60]})" if status.error else "")
    )


def attacks(huge: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="attacks-"))
    try:
        with child_server(work) as child:
            print(f"server pid {child.process.pid}, RSS {child.rss():.0f} MB, threads {child.threads()}")
            attack_nested(child, nested_body(900, 105 * 1024))
            if huge:
                attack_nested(child, nested_body(900, 16 * 2**20 - 1024))
            attack_parallel_bodies(child, 4, 16 * 2**20 - 4096)
            attack_idle_sockets(child, 2000, 35)
            attack_grpc_dims(child, 16_000_000)
            attack_version_digits(child, 5000)
            attack_protocol_errors(child)
            attack_early_disconnects(child, 20)
            attack_metrics(child, 20_000)
            print(f"server RSS at the end {child.rss():.0f} MB")
        attack_copy_saved_model_first(work, 5)
    finally:
        shutil.rmtree(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    soak_parser = commands.add_parser("soak", help="RSS over version swaps and failed loads")
    soak_parser.add_argument("--swaps", type=int, default=8)
    soak_parser.add_argument("--failed", type=int, default=5)
    soak_parser.add_argument("--megabytes", type=int, default=64)
    soak_parser.add_argument("--batching", action="store_true")
    soak_parser.add_argument("--model_dir", help="a real version folder to swap instead of the stand-in")
    attacks_parser = commands.add_parser("attacks", help="the issue's attacks on `clickpipe serve`")
    attacks_parser.add_argument(
        "--huge", action="store_true", help="also a nested 16 MiB body (only with the limits in place)"
    )
    args = parser.parse_args()
    if args.command == "attacks":
        attacks(args.huge)
    if args.command == "soak":
        started = time.perf_counter()
        soak(args.swaps, args.failed, args.megabytes, args.batching, args.model_dir)
        print(f"  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
