"""`ModelServer`: the TF-Serving-compatible server, startable in-process on any port.

    with ModelServer("models/clickpipe", "clickpipe", rest_port=0, grpc_port=0) as server:
        requests.get(f"{server.rest_url}/v1/models/clickpipe")   # server.grpc_target for gRPC

Starting loads the initial versions (like TF Serving, before the ports open), then a poller
thread watches the base paths (`file_system_poll_wait_seconds`) and, when set, the model config
file (`model_config_file_poll_wait_seconds`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from pathlib import Path

from serving.grpc_service import GrpcServer, ModelService, PredictionService
from serving.limits import ByteBudget
from serving.manager import ManagerOptions, ModelManager, VersionStatus
from serving.metrics import Metrics
from serving.request_log import RequestLogger
from serving.rest import RestApi, RestLimits, RestServer
from serving.server_config import (
    BatchingOptions,
    ServingConfigError,
    read_model_server_config,
    single_model_config,
    validate_model_server_config,
)

log = logging.getLogger("clickpipe.serving")

DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024


def schedulable_cpus() -> int:
    """The CPUs this process may run on (TF Serving's `NumSchedulableCPUs`)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Everything but the models; names follow TF Serving's flags where it has them.

    The limits bound what a server takes on at once, so that no client (and no number of
    them) can make it run out of memory or threads: refusals are TF Serving's
    RESOURCE_EXHAUSTED (REST 429) with an `{"error": ...}` body.

    Attributes:
        host: address for gRPC (and REST unless `rest_api_host` is set); loopback by default.
        rest_api_host: address for REST, if different from `host`.
        file_system_poll_wait_seconds: how often base paths are polled; 0 polls once at start.
        model_config_file_poll_wait_seconds: how often `--model_config_file` is re-read; 0 never.
        batching: dynamic batching settings, or None for no batching.
        prometheus_path: the metrics path, or None to serve no metrics (as TF Serving without
            `--monitoring_config_file`).
        request_log_dir: where sampled requests are written, or None (our own flag).
        request_log_sampling_rate: the fraction of requests written (our own flag).
        max_request_bytes: the largest REST body / gRPC message accepted, and the most a gRPC
            Predict's input tensors may take once decoded (our own flag).
        grpc_max_threads: gRPC worker threads.
        rest_api_num_threads: REST requests handled at once; more wait (TF Serving's flag,
            default 4 x schedulable CPUs).
        rest_api_timeout_in_ms: a REST connection that sends nothing for this long, idle or
            mid-request, is closed; also how long a request waits for room in the in-flight
            bytes budget (TF Serving's flag, default 30 s).
        rest_api_max_connections: open REST connections, one thread each; past it a connection
            gets 429 at once (our own flag).
        grpc_max_concurrent_rpcs: gRPC calls being answered or queued; past it gRPC's
            RESOURCE_EXHAUSTED (our own flag).
        max_inflight_request_bytes: request bytes (REST bodies, gRPC messages) being handled at
            once; a request waits for room (REST up to `rest_api_timeout_in_ms`, gRPC up to
            its deadline), then gets RESOURCE_EXHAUSTED. At least `max_request_bytes`; None
            (the default) is twice `max_request_bytes` (our own flag).
        max_num_load_retries: retries of a version that failed to load, on the polls
            (TF Serving's flag; none when `file_system_poll_wait_seconds` is 0).
        load_retry_interval_micros: the least time between those retries (TF Serving's flag;
            negative: no wait).
    """

    host: str = "127.0.0.1"
    rest_api_host: str | None = None
    file_system_poll_wait_seconds: float = 1.0
    model_config_file_poll_wait_seconds: float = 0.0
    batching: BatchingOptions | None = None
    prometheus_path: str | None = None
    request_log_dir: str | None = None
    request_log_sampling_rate: float = 0.0
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    grpc_max_threads: int = 16
    saved_model_tags: tuple[str, ...] = ("serve",)
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    allow_version_labels_for_unavailable_models: bool = False
    rest_api_num_threads: int = dataclasses.field(default_factory=lambda: 4 * schedulable_cpus())
    rest_api_timeout_in_ms: int = 30_000
    rest_api_max_connections: int = 256
    grpc_max_concurrent_rpcs: int = 256
    max_inflight_request_bytes: int | None = None
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000

    @property
    def inflight_request_bytes(self) -> int:
        """`max_inflight_request_bytes`, or its default of twice `max_request_bytes`."""
        return self.max_inflight_request_bytes or 2 * self.max_request_bytes

    def __post_init__(self) -> None:
        for name in (
            "max_request_bytes",
            "grpc_max_threads",
            "rest_api_num_threads",
            "rest_api_timeout_in_ms",
            "rest_api_max_connections",
            "grpc_max_concurrent_rpcs",
        ):
            if getattr(self, name) < 1:
                raise ServingConfigError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.max_num_load_retries < 0:
            raise ServingConfigError("--max_num_load_retries must be at least 0")
        if self.inflight_request_bytes < self.max_request_bytes:
            raise ServingConfigError(
                f"--max_inflight_request_bytes ({self.inflight_request_bytes}) must be at "
                f"least --max_request_bytes ({self.max_request_bytes}), or no such request fits"
            )


class ModelServer:
    """REST + gRPC serving of SavedModel versions, with TF Serving's API and semantics."""

    def __init__(
        self,
        model_base_path: str | None = None,
        model_name: str | None = None,
        *,
        model_config_file: str | Path | None = None,
        model_config=None,
        rest_port: int | None = 8501,
        grpc_port: int = 8500,
        options: ServerOptions | None = None,
    ):
        """Describes the server; nothing is loaded or bound until `start()`.

        Args:
            model_base_path: folder (or gs:// URI) of numeric version folders of one model.
            model_name: that model's name.
            model_config_file: a `ModelServerConfig` text file instead of name/base path.
            model_config: a `ModelServerConfig` proto instead of either.
            rest_port: REST port; 0 picks a free one, None serves no REST.
            grpc_port: gRPC port; 0 picks a free one.
            options: everything else.

        Raises:
            ServingConfigError: the models are not described exactly one way, or badly.
        """
        given = [
            model_base_path is not None or model_name is not None,
            model_config_file is not None,
            model_config is not None,
        ]
        if sum(given) != 1:
            raise ServingConfigError(
                "give either --model_name with --model_base_path, or --model_config_file"
            )
        if model_config_file is not None:
            model_config = read_model_server_config(model_config_file)
        elif model_config is None:
            if not model_base_path or not model_name:
                raise ServingConfigError("--model_name and --model_base_path go together")
            model_config = single_model_config(model_name, model_base_path)
        self.options = options or ServerOptions()
        self._config_file = model_config_file
        self._rest_port = rest_port
        self._grpc_port = grpc_port
        self.metrics = Metrics()
        self.manager = ModelManager(
            validate_model_server_config(model_config),
            ManagerOptions(
                saved_model_tags=self.options.saved_model_tags,
                enable_model_warmup=self.options.enable_model_warmup,
                num_request_iterations_for_warmup=self.options.num_request_iterations_for_warmup,
                batching=self.options.batching,
                allow_version_labels_for_unavailable_models=self.options.allow_version_labels_for_unavailable_models,
                # Retries happen on the polls; without polling a failed load is final.
                max_num_load_retries=self.options.max_num_load_retries
                if self.options.file_system_poll_wait_seconds > 0
                else 0,
                load_retry_interval_micros=self.options.load_retry_interval_micros,
            ),
            self.metrics,
        )
        self.request_log: RequestLogger | None = None
        self._rest: RestServer | None = None
        self._grpc: GrpcServer | None = None
        self._stop = threading.Event()
        self._pollers: list[threading.Thread] = []

    @property
    def rest_port(self) -> int | None:
        """The bound REST port, or None without REST."""
        return self._rest.port if self._rest else None

    @property
    def grpc_port(self) -> int:
        """The bound gRPC port."""
        return self._grpc.port

    @property
    def rest_url(self) -> str | None:
        """e.g. `http://127.0.0.1:8501`, or None without REST."""
        if self._rest is None:
            return None
        host = self.options.rest_api_host or self.options.host
        return (
            f"http://[{host}]:{self.rest_port}"
            if ":" in host
            else f"http://{host}:{self.rest_port}"
        )

    @property
    def grpc_target(self) -> str:
        """e.g. `127.0.0.1:8500`, for `grpc.insecure_channel`."""
        host = self.options.host
        return f"[{host}]:{self.grpc_port}" if ":" in host else f"{host}:{self.grpc_port}"

    def model_status(self, model_name: str) -> list[VersionStatus]:
        """Every known version of a model, newest first (raises ServingError if none)."""
        return self.manager.status(model_name)

    def start(self) -> ModelServer:
        """Loads the initial versions, opens the ports and starts polling."""
        options = self.options
        try:
            self.manager.start()
            if options.request_log_dir:
                self.request_log = RequestLogger(
                    options.request_log_dir, options.request_log_sampling_rate, self.metrics
                )
            budget = ByteBudget(options.inflight_request_bytes)
            prediction = PredictionService(
                self.manager, self.metrics, self.request_log, budget, options.max_request_bytes
            )
            self._grpc = GrpcServer(
                prediction,
                ModelService(self.manager, self.metrics, budget),
                options.host,
                self._grpc_port,
                options.grpc_max_threads,
                options.max_request_bytes,
                options.grpc_max_concurrent_rpcs,
            )
            if self._rest_port is not None:
                api = RestApi(self.manager, self.metrics, self.request_log, options.prometheus_path)
                limits = RestLimits(
                    max_request_bytes=options.max_request_bytes,
                    num_threads=options.rest_api_num_threads,
                    timeout_seconds=options.rest_api_timeout_in_ms / 1000,
                    max_connections=options.rest_api_max_connections,
                )
                self._rest = RestServer(
                    api, options.rest_api_host or options.host, self._rest_port, limits, budget
                )
                self._rest.start()
            self._grpc.start()
        except BaseException:
            self.stop()
            raise
        if options.file_system_poll_wait_seconds > 0:
            self._start_poller(
                options.file_system_poll_wait_seconds, self.manager.poll_once, "poll-models"
            )
        if self._config_file is not None and options.model_config_file_poll_wait_seconds > 0:
            self._start_poller(
                options.model_config_file_poll_wait_seconds, self._reload_config_file, "poll-config"
            )
        log.info("serving gRPC on %s, REST on %s", self.grpc_target, self.rest_url)
        return self

    def _start_poller(self, seconds: float, work, name: str) -> None:
        def loop() -> None:
            while not self._stop.wait(seconds):
                try:
                    work()
                except Exception:  # noqa: BLE001 - one bad poll must not end polling
                    log.exception("%s failed; will retry", name)

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        self._pollers.append(thread)

    def _reload_config_file(self) -> None:
        config = read_model_server_config(self._config_file)
        if config != self.manager.config:
            log.info("model config file %s changed; reloading", self._config_file)
            self.manager.reload_config(config)

    def stop(self) -> None:
        """Stops polling, closes the ports, unloads every version, flushes the request log."""
        self._stop.set()
        for thread in self._pollers:
            thread.join()
        if self._grpc is not None:
            self._grpc.stop()
        if self._rest is not None:
            self._rest.stop()
        self.manager.stop()
        if self.request_log is not None:
            self.request_log.close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
