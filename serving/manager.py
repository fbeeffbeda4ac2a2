"""Versions on disk become loaded servables, with TF Serving's policy, labels and states.

Each model's base path is polled for numeric version folders. A folder counts only once its
`saved_model.pb` exists (the Pusher writes it last). The version policy picks the aspired
versions; they are loaded (and warmed up) while the old ones keep serving, and an old version is
unloaded only once an aspired one is AVAILABLE, so a push never leaves a gap.

A version that fails to load stays LOADING while it has retries left (TF Serving's
`max_num_load_retries`, at least `load_retry_interval_micros` apart, tried on the polls), then
ends in state END with its error; it is tried afresh when its `saved_model.pb` changes.

An unloaded or failed version is freed as soon as no request uses it: nothing here keeps a
reference to it, and since a `tf.Graph` refers to itself, the poll that follows runs one full
garbage collection to free the graph too, instead of waiting for Python to get round to it.
"""

from __future__ import annotations

import dataclasses
import enum
import gc
import logging
import re
import threading
import time
import weakref
from collections.abc import Iterable

from serving import errors, warmup
from serving.batching import Batcher
from serving.errors import ServingError
from serving.metrics import Metrics
from serving.servable import Servable, saved_model_file
from serving.server_config import BatchingOptions, validate_model_server_config

log = logging.getLogger("clickpipe.serving")

VERSION_DIR_RE = re.compile(r"^\d{1,18}$")


class State(enum.Enum):
    """TF Serving's `ModelVersionStatus.State`."""

    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


@dataclasses.dataclass
class VersionStatus:
    """One version's state and, after a failed load, its error.

    Attributes:
        version: the version number.
        state: where it is in TF Serving's state machine.
        error: why its last load failed, once it is END for that reason.
        fingerprint: its `saved_model.pb` when it was last tried (path, mtime, size).
        load_attempts: failed loads of that `saved_model.pb` so far.
        retry_at: when (time.monotonic()) a LOADING version that failed may be tried again.
    """

    version: int
    state: State
    error: ServingError | None = None
    fingerprint: tuple | None = None
    load_attempts: int = 0
    retry_at: float = 0.0


@dataclasses.dataclass
class _Model:
    config: object
    statuses: dict[int, VersionStatus] = dataclasses.field(default_factory=dict)
    ready: dict[int, Servable] = dataclasses.field(default_factory=dict)
    latest: Servable | None = None
    labels: dict[str, int] = dataclasses.field(default_factory=dict)
    missing_path_logged: bool = False


def aspired_versions(policy, on_disk: Iterable[int]) -> set[int]:
    """The versions a `ModelVersionPolicy` wants loaded (default: the latest one)."""
    versions = sorted(set(on_disk))
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return set(versions)
    if kind == "specific":
        return set(versions) & set(policy.specific.versions)
    keep = policy.latest.num_versions if kind == "latest" else 1
    return set(versions[-keep:]) if versions else set()


def versions_on_disk(base_path: str) -> dict[int, str] | None:
    """Version -> folder for each numeric folder holding a SavedModel; None if no base path."""
    import tensorflow as tf

    if not tf.io.gfile.isdir(base_path):
        return None
    found = {}
    for entry in tf.io.gfile.listdir(base_path):
        name = entry.rstrip("/")
        path = f"{base_path.rstrip('/')}/{name}"
        if VERSION_DIR_RE.match(name) and saved_model_file(path) is not None:
            found[int(name)] = path
    return found


def _fingerprint(path: str) -> tuple:
    import tensorflow as tf

    model_file = saved_model_file(path)
    stat = tf.io.gfile.stat(model_file)
    return model_file, stat.mtime_nsec, stat.length


@dataclasses.dataclass(frozen=True)
class ManagerOptions:
    """How versions are loaded; the defaults are TF Serving's."""

    saved_model_tags: tuple[str, ...] = ("serve",)
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    batching: BatchingOptions | None = None
    allow_version_labels_for_unavailable_models: bool = False
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000


class ModelManager:
    """Keeps every configured model's aspired versions loaded; answers lookups and status."""

    def __init__(
        self, config, options: ManagerOptions | None = None, metrics: Metrics | None = None
    ):
        self._options = options or ManagerOptions()
        self._metrics = metrics or Metrics()
        self._config = validate_model_server_config(config)
        self._models: dict[str, _Model] = {}
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        # Set when a version has been freed or failed: its graph waits for a full collection.
        self._garbage = threading.Event()

    @property
    def config(self):
        """The `ModelServerConfig` in force."""
        return self._config

    def model_names(self) -> list[str]:
        """The configured models' names."""
        return sorted(self._models)

    def start(self) -> None:
        """Loads the initial versions and applies the labels.

        Raises:
            ServingError: FAILED_PRECONDITION when a label names a version that is not available.
        """
        self._apply_config(self._config, initial=True)

    def poll_once(self) -> None:
        """Looks at every base path once and loads/unloads versions to match the policy."""
        with self._sync_lock:
            for model in list(self._models.values()):
                try:
                    self._sync(model)
                except Exception:  # noqa: BLE001 - one unreadable base path must not stop the others
                    log.exception(
                        "model %s: cannot poll %s", model.config.name, model.config.base_path
                    )
            self._collect_garbage()

    def _collect_garbage(self) -> None:
        # About 0.2 s with TensorFlow loaded, once per freed version: what Python's own full
        # collections cost, but without leaving ~100 MB per version until the next one.
        if self._garbage.is_set():
            self._garbage.clear()
            gc.collect()

    def reload_config(self, config) -> None:
        """Switches to a new `ModelServerConfig` (ModelService.HandleReloadConfigRequest).

        Raises:
            ServingConfigError: the config is not valid; nothing changes.
            ServingError: FAILED_PRECONDITION when a label names a version that is not available;
                the models are updated but that model keeps its previous labels.
        """
        validate_model_server_config(config, "ReloadConfigRequest")
        self._apply_config(config, initial=False)

    def _apply_config(self, config, initial: bool) -> None:
        with self._sync_lock:
            wanted = {model.name: model for model in config.model_config_list.config}
            models = dict(self._models)
            for name in set(models) - set(wanted):
                self._unload_all(models.pop(name))
            for name, model_config in wanted.items():
                if name in models and models[name].config.base_path == model_config.base_path:
                    models[name].config = model_config
                else:
                    if name in models:
                        self._unload_all(models[name])
                    models[name] = _Model(config=model_config)
            with self._lock:
                self._models = models
                self._config = config
            self._metrics.set_models(models)
            for model in models.values():
                self._sync(model)
            failures = [
                message for model in models.values() if (message := self._update_labels(model))
            ]
            self._collect_garbage()
        if failures:
            raise errors.failed_precondition("; ".join(failures))
        if initial:
            log.info("serving models: %s", ", ".join(sorted(models)))

    def _update_labels(self, model: _Model) -> str | None:
        labels = dict(model.config.version_labels)
        for version in labels.values():
            if (
                version not in model.ready
                and not self._options.allow_version_labels_for_unavailable_models
            ):
                return (
                    f"Request to assign label to version {version} of model {model.config.name}, "
                    "which is not currently available for inference"
                )
        model.labels = labels
        return None

    def _sync(self, model: _Model) -> None:
        name, base_path = model.config.name, model.config.base_path
        on_disk = versions_on_disk(base_path)
        if on_disk is None:
            if not model.missing_path_logged:
                log.warning("model %s: base path %s does not exist (yet); polling", name, base_path)
                model.missing_path_logged = True
            on_disk = {}
        aspired = aspired_versions(model.config.model_version_policy, on_disk)
        for version in sorted(aspired, reverse=True):
            if version not in model.ready:
                self._maybe_load(model, version, on_disk[version])
        stale = [version for version in model.ready if version not in aspired]
        # Unload only once an aspired version serves, or when nothing is aspired at all.
        if stale and (not aspired or any(version in model.ready for version in aspired)):
            for version in stale:
                self._unload(model, version)

    def _set_status(self, model: _Model, status: VersionStatus) -> None:
        with self._lock:
            model.statuses[status.version] = status

    def _publish(self, model: _Model, ready: dict[int, Servable]) -> None:
        with self._lock:
            model.ready = ready
            model.latest = ready[max(ready)] if ready else None

    def _maybe_load(self, model: _Model, version: int, path: str) -> None:
        name = model.config.name
        try:
            fingerprint = _fingerprint(path)
        except Exception:  # noqa: BLE001 - the folder changed under us; next poll will see it
            return
        previous = model.statuses.get(version)
        attempts = 0
        if previous and previous.fingerprint == fingerprint and previous.load_attempts:
            if previous.state == State.END or time.monotonic() < previous.retry_at:
                return
            attempts = previous.load_attempts
        self._set_status(
            model,
            VersionStatus(version, State.LOADING, fingerprint=fingerprint, load_attempts=attempts),
        )
        log.info("model %s: loading version %d from %s", name, version, path)
        try:
            servable = self._load(name, version, path)
        except ServingError as exc:
            # A copy without the traceback, whose frames would keep the failed session alive.
            error = ServingError(exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - a broken model must not stop the server
            error = errors.unknown(f"Failed to load {path}: {exc}")
        else:
            weakref.finalize(servable, self._garbage.set)
            self._publish(model, {**model.ready, version: servable})
            self._set_status(
                model, VersionStatus(version, State.AVAILABLE, fingerprint=fingerprint)
            )
            self._metrics.model_load(path, "success")
            log.info("model %s: version %d is AVAILABLE", name, version)
            return
        self._garbage.set()
        self._metrics.model_load(path, "fail")
        self._record_failure(model, VersionStatus(version, State.END, error, fingerprint, attempts + 1))

    def _record_failure(self, model: _Model, status: VersionStatus) -> None:
        retries, error = self._options.max_num_load_retries, status.error
        what = f"model {model.config.name}: version {status.version} failed to load"
        if status.load_attempts <= retries:
            # As TF Serving: LOADING until the last retry; a negative interval does not wait.
            wait = max(self._options.load_retry_interval_micros, 0) / 1e6
            status = dataclasses.replace(
                status, state=State.LOADING, error=None, retry_at=time.monotonic() + wait
            )
            log.warning(
                "%s (attempt %d of %d), retrying in %g s: %s: %s",
                what,
                status.load_attempts,
                retries + 1,
                wait,
                error.code_name,
                error.message,
            )
        else:
            log.error("%s: %s: %s", what, error.code_name, error.message)
        self._set_status(model, status)

    def _load(self, name: str, version: int, path: str) -> Servable:
        servable = Servable.load(name, version, path, self._options.saved_model_tags)
        if self._options.enable_model_warmup:
            records = warmup.read_warmup_records(path)
            warmup.replay(servable, records, self._options.num_request_iterations_for_warmup)
            if records:
                log.info(
                    "model %s: version %d warmed up with %d records", name, version, len(records)
                )
        if self._options.batching is not None:
            batcher = Batcher(
                servable.run_unbatched,
                self._options.batching,
                observe=lambda size, queued: self._metrics.batch(name, size, queued),
            )
            servable.set_runner(batcher)
        return servable

    def _unload(self, model: _Model, version: int) -> None:
        servable = model.ready[version]
        status = model.statuses[version]
        self._set_status(model, dataclasses.replace(status, state=State.UNLOADING))
        self._publish(model, {v: s for v, s in model.ready.items() if v != version})
        servable.close()
        self._set_status(model, dataclasses.replace(status, state=State.END))
        log.info("model %s: version %d unloaded", model.config.name, version)

    def _unload_all(self, model: _Model) -> None:
        for version in list(model.ready):
            self._unload(model, version)

    def stop(self) -> None:
        """Unloads every version."""
        with self._sync_lock:
            for model in self._models.values():
                self._unload_all(model)

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a request names, as TF Serving's `GetServableHandle` finds it.

        Raises:
            ServingError: NOT_FOUND `Servable not found for request: Latest(name)` /
                `Specific(name, v)`; INVALID_ARGUMENT for an unknown label.
        """
        model = self._models.get(name)
        if label is not None:
            if model is None or label not in model.labels:
                raise errors.invalid_argument(f"Unrecognized servable version label: {label}")
            version = model.labels[label]
        if version is None:
            latest = model.latest if model else None
            if latest is None:
                raise errors.not_found(f"Servable not found for request: Latest({name})")
            return latest
        servable = model.ready.get(version) if model else None
        if servable is None:
            raise errors.not_found(f"Servable not found for request: Specific({name}, {version})")
        return servable

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Version states as GetModelStatus reports them, newest first.

        Raises:
            ServingError: NOT_FOUND when the model or version was never seen.
        """
        model = self._models.get(name)
        with self._lock:
            statuses = dict(model.statuses) if model else {}
        if version is not None:
            if version not in statuses:
                raise errors.not_found(f"Could not find version {version} of model {name}")
            return [statuses[version]]
        if not statuses:
            raise errors.not_found(f"Could not find any versions of model {name}")
        return [statuses[v] for v in sorted(statuses, reverse=True)]
