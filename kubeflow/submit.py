"""Upload, run and schedule the compiled pipeline with the kfp 2.x client (`kfp.Client`).

Every call to the KFP API goes through `KfpSession`, which turns the client's exceptions
(HTTP errors, unreachable hosts, unknown experiments) into one-line `KfpError`s that name
the host and what to fix.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kfp
import urllib3
from kfp_server_api.exceptions import ApiException

# KFP's recurring-run cron (robfig/cron): seconds minutes hours day-of-month month day-of-week.
CRON_FIELDS = 6
_CRON_FIELD_RE = re.compile(r"^[0-9A-Za-z*?/,#\-]+$")
# The kfp client's code for the EQUALS filter operation.
_EQUALS = 1


class KfpError(Exception):
    """A Kubeflow Pipelines call failed in a way the user can fix; one line, no traceback."""


@dataclass(frozen=True)
class Connection:
    """How to reach the KFP API: the host and auth options `kfp.Client` supports.

    Attributes:
        host: the KFP API endpoint, e.g. http://localhost:8080 through a port-forward. Empty
            lets the kfp client find it (in-cluster service DNS, then the kube config).
        namespace: the user's namespace on a multi-user Kubeflow; empty on standalone KFP.
        existing_token: a bearer token obtained outside the SDK.
        cookies: a cookie header value, e.g. an authservice session.
        client_id: OAuth client id of an Identity-Aware Proxy in front of KFP.
        other_client_id: OAuth client id used to get the IAP token.
        other_client_secret: its secret.
        proxy: an HTTP(S) proxy.
        ssl_ca_cert: a CA bundle for the host's TLS certificate.
        kube_context: the kube config context, when the host is not given.
        verify_ssl: False to skip TLS verification (self-signed test clusters).
    """

    host: str = ""
    namespace: str = ""
    existing_token: str = ""
    cookies: str = ""
    client_id: str = ""
    other_client_id: str = ""
    other_client_secret: str = ""
    proxy: str = ""
    ssl_ca_cert: str = ""
    kube_context: str = ""
    verify_ssl: bool = True

    @property
    def where(self) -> str:
        """The endpoint, for messages."""
        return self.host or "the KFP endpoint found by the kfp client (in-cluster or kube config)"


@dataclass(frozen=True)
class VersionRef:
    """An uploaded pipeline version."""

    pipeline_id: str
    version_id: str
    version_name: str


@dataclass(frozen=True)
class Uploaded:
    """The result of `KfpSession.upload`; `new_pipeline` is True on a first upload."""

    version: VersionRef
    new_pipeline: bool


@dataclass(frozen=True)
class RunRow:
    """One run, as `clickpipe kfp runs` lists it."""

    run_id: str
    name: str
    state: str
    created_at: str


@dataclass(frozen=True)
class ScheduleRow:
    """One recurring run, as `clickpipe kfp schedule list` lists it."""

    recurring_run_id: str
    name: str
    mode: str
    cron: str


def check_cron(expression: str, source: str) -> str:
    """Checks a KFP 6-field cron expression.

    Args:
        expression: e.g. ``"0 0 6 2 * *"`` (06:00 UTC on the 2nd of each month).
        source: the option or config key it came from, for the message.

    Returns:
        The expression with single spaces.

    Raises:
        KfpError: it does not have 6 fields or a field has characters cron does not know.
    """
    fields = expression.split()
    if len(fields) != CRON_FIELDS:
        raise KfpError(
            f"{source} {expression!r} has {len(fields)} fields; KFP needs {CRON_FIELDS} "
            "(seconds minutes hours day-of-month month day-of-week), e.g. '0 0 6 2 * *'"
        )
    bad = [field for field in fields if not _CRON_FIELD_RE.match(field)]
    if bad:
        raise KfpError(f"{source} {expression!r}: field {bad[0]!r} is not cron syntax")
    return " ".join(fields)


def _server_message(body) -> str:
    """The message of a KFP error body ({"message": ...} or {"error_message": ...})."""
    if not body:
        return ""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    try:
        data = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    message = data.get("message") or data.get("error_message") or data.get("error") or ""
    return str(message).splitlines()[0] if message else ""


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


def _cause(exc: BaseException) -> str:
    """The innermost reason of a urllib3 error, e.g. "[Errno 111] Connection refused"."""
    reason = getattr(exc, "reason", None) or exc
    return str(reason).split(": ", 1)[-1]


class _Client(kfp.Client):
    """`kfp.Client` whose start-up health check fails at once.

    The stock check retries five times, 5 s apart, logging a traceback each time.
    """

    def get_kfp_healthz(self, sleep_duration: int = 5):
        return self.healthzs.get_healthz()


class KfpSession:
    """A connected kfp client with clickpipe's operations.

    Raises (from every method and the constructor):
        KfpError: the host cannot be reached or answered with an error.
    """

    def __init__(self, connection: Connection):
        self.connection = connection
        with self._calling("connecting"), warnings.catch_warnings():
            # kfp warns on every construction that it needs a KFP 2 backend, which we do.
            warnings.simplefilter("ignore", FutureWarning)
            self.client = _Client(
                host=connection.host or None,
                namespace=connection.namespace or "kubeflow",
                existing_token=connection.existing_token or None,
                cookies=connection.cookies or None,
                client_id=connection.client_id or None,
                other_client_id=connection.other_client_id or None,
                other_client_secret=connection.other_client_secret or None,
                proxy=connection.proxy or None,
                ssl_ca_cert=connection.ssl_ca_cert or None,
                kube_context=connection.kube_context or None,
                verify_ssl=connection.verify_ssl,
            )

    @contextlib.contextmanager
    def _calling(self, action: str) -> Iterator[None]:
        where = self.connection.where
        # urllib3 logs each connection retry; the one-line error below says it all. A filter,
        # because kfp_server_api resets the urllib3 logger's level when it configures itself.
        pool_logger = logging.getLogger("urllib3.connectionpool")
        pool_logger.addFilter(_errors_only)
        try:
            yield
        except ApiException as exc:
            if not exc.status:
                raise KfpError(f"{action}: cannot reach {where}: {exc.reason}") from None
            message = _server_message(exc.body)
            hint = " (is --host the Kubeflow Pipelines API?)" if exc.status == 404 else ""
            detail = f": {message}" if message else hint
            raise KfpError(
                f"{action}: {where} answered {exc.status} {exc.reason}{detail}"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise KfpError(
                f"cannot reach Kubeflow Pipelines at {where}: {_cause(exc)} "
                "(check --host or kubeflow.host)"
            ) from None
        finally:
            pool_logger.removeFilter(_errors_only)

    @property
    def _namespace(self) -> str | None:
        return self.connection.namespace or None

    def experiment_id(self, name: str, create: bool = False) -> str:
        """The id of the experiment named `name`.

        Args:
            name: the experiment's display name.
            create: create it when it does not exist.

        Raises:
            KfpError: it does not exist and `create` is False.
        """
        with self._calling(f"looking up experiment {name!r}"):
            found = (
                self.client.list_experiments(
                    filter=_name_filter(name), namespace=self._namespace, page_size=2
                ).experiments
                or []
            )
            if len(found) > 1:
                raise KfpError(
                    f"more than one experiment is named {name!r} on {self.connection.where}"
                )
            if found:
                return found[0].experiment_id
            if not create:
                raise KfpError(
                    f"experiment {name!r} does not exist on {self.connection.where}; "
                    "pass --create-experiment or --experiment NAME"
                )
            return self.client.create_experiment(name, namespace=self._namespace).experiment_id

    def pipeline_id(self, name: str) -> str | None:
        """The id of the uploaded pipeline named `name`, or None."""
        with self._calling(f"looking up pipeline {name!r}"):
            found = (
                self.client.list_pipelines(
                    filter=_name_filter(name), namespace=self._namespace, page_size=2
                ).pipelines
                or []
            )
        if len(found) > 1:
            raise KfpError(f"more than one pipeline is named {name!r} on {self.connection.where}")
        return found[0].pipeline_id if found else None

    def version(self, pipeline_name: str, version_name: str = "") -> VersionRef:
        """An uploaded version: the one named `version_name`, else the newest.

        Raises:
            KfpError: the pipeline or the version is not uploaded.
        """
        pipeline_id = self.pipeline_id(pipeline_name)
        if pipeline_id is None:
            raise KfpError(
                f"pipeline {pipeline_name!r} is not uploaded to {self.connection.where}; "
                "run `clickpipe kfp upload` first"
            )
        with self._calling(f"listing versions of pipeline {pipeline_name!r}"):
            versions = (
                self.client.list_pipeline_versions(
                    pipeline_id,
                    page_size=1,
                    sort_by="created_at desc",
                    filter=_name_filter(version_name) if version_name else None,
                ).pipeline_versions
                or []
            )
        if not versions:
            wanted = f"a version named {version_name!r}" if version_name else "any version"
            raise KfpError(f"pipeline {pipeline_name!r} has no {wanted} on {self.connection.where}")
        return VersionRef(pipeline_id, versions[0].pipeline_version_id, versions[0].display_name)

    def upload(
        self, package: Path, pipeline_name: str, version_name: str, description: str = ""
    ) -> Uploaded:
        """Uploads a compiled spec: a new pipeline the first time, a new version after.

        Args:
            package: the compiled YAML.
            pipeline_name: the pipeline's display name.
            version_name: the new version's name (a first upload names it after the pipeline,
                as KFP does).
            description: shown in the KFP UI.

        Raises:
            KfpError: the version name is taken, or the server refused the spec.
        """
        pipeline_id = self.pipeline_id(pipeline_name)
        if pipeline_id is None:
            with self._calling(f"uploading pipeline {pipeline_name!r}"):
                self.client.upload_pipeline(
                    str(package),
                    pipeline_name=pipeline_name,
                    description=description or None,
                    namespace=self._namespace,
                )
            return Uploaded(self.version(pipeline_name), new_pipeline=True)
        with self._calling(f"listing versions of pipeline {pipeline_name!r}"):
            taken = self.client.list_pipeline_versions(
                pipeline_id, page_size=1, filter=_name_filter(version_name)
            ).pipeline_versions
        if taken:
            raise KfpError(
                f"pipeline {pipeline_name!r} already has a version named {version_name!r} "
                "(the same spec is uploaded); pass --version NAME to upload it again"
            )
        with self._calling(f"uploading version {version_name!r} of {pipeline_name!r}"):
            version = self.client.upload_pipeline_version(
                str(package),
                version_name,
                pipeline_id=pipeline_id,
                description=description or None,
            )
        ref = VersionRef(pipeline_id, version.pipeline_version_id, version.display_name)
        return Uploaded(ref, new_pipeline=False)

    def start_run(
        self,
        *,
        experiment_id: str,
        run_name: str,
        parameters: dict[str, str],
        pipeline_root: str,
        version: VersionRef | None = None,
        package: Path | None = None,
        service_account: str = "",
    ) -> str:
        """Starts one run of an uploaded version or of a compiled file; returns the run id."""
        with self._calling(f"starting run {run_name!r}"):
            run = self.client.run_pipeline(
                experiment_id=experiment_id,
                job_name=run_name,
                pipeline_package_path=str(package) if package else None,
                params=parameters,
                pipeline_id=version.pipeline_id if version else None,
                version_id=version.version_id if version else None,
                pipeline_root=pipeline_root,
                service_account=service_account or None,
            )
        return run.run_id

    def schedule(
        self,
        *,
        experiment_id: str,
        name: str,
        version: VersionRef,
        cron: str,
        parameters: dict[str, str],
        pipeline_root: str,
        enabled: bool = True,
        service_account: str = "",
    ) -> str:
        """Creates the monthly recurring run; returns its id.

        One run at a time (`max_concurrency=1`) and no catch-up: a paused schedule that is
        enabled again starts one run for "latest", not one per missed month.
        """
        with self._calling(f"creating recurring run {name!r}"):
            recurring = self.client.create_recurring_run(
                experiment_id=experiment_id,
                job_name=name,
                description=f"clickpipe on cron {cron!r}, {_describe(parameters)}",
                cron_expression=cron,
                max_concurrency=1,
                no_catchup=True,
                params=parameters,
                pipeline_id=version.pipeline_id,
                version_id=version.version_id,
                enabled=enabled,
                pipeline_root=pipeline_root,
                service_account=service_account or None,
            )
        return recurring.recurring_run_id

    def set_schedule_enabled(self, recurring_run_id: str, enabled: bool) -> None:
        """Enables or disables a recurring run by id."""
        action = "enabling" if enabled else "disabling"
        with self._calling(f"{action} recurring run {recurring_run_id!r}"):
            if enabled:
                self.client.enable_recurring_run(recurring_run_id)
            else:
                self.client.disable_recurring_run(recurring_run_id)

    def schedules(self, experiment_id: str, limit: int = 20) -> list[ScheduleRow]:
        """The experiment's recurring runs, newest first."""
        with self._calling("listing recurring runs"):
            found = (
                self.client.list_recurring_runs(
                    experiment_id=experiment_id, page_size=limit, sort_by="created_at desc"
                ).recurring_runs
                or []
            )
        return [
            ScheduleRow(
                recurring_run_id=r.recurring_run_id,
                name=r.display_name or "",
                mode=r.mode or "",
                cron=(
                    r.trigger.cron_schedule.cron if r.trigger and r.trigger.cron_schedule else ""
                ),
            )
            for r in found
        ]

    def runs(self, experiment_id: str, limit: int = 20) -> list[RunRow]:
        """The experiment's runs, newest first."""
        with self._calling("listing runs"):
            found = (
                self.client.list_runs(
                    experiment_id=experiment_id, page_size=limit, sort_by="created_at desc"
                ).runs
                or []
            )
        return [
            RunRow(
                run_id=r.run_id,
                name=r.display_name or "",
                state=r.state or "",
                created_at=r.created_at.isoformat() if r.created_at else "",
            )
            for r in found
        ]


def _name_filter(name: str) -> str:
    predicate = {"operation": _EQUALS, "key": "display_name", "stringValue": name}
    return json.dumps({"predicates": [predicate]})


def _describe(parameters: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(parameters.items()))
