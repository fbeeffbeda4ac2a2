"""`clickpipe kfp compile | upload | run | schedule | runs`: the pipeline on Kubeflow Pipelines.

Thin adapters over `kubeflow.compile` and `kubeflow.submit`; TFX and kfp are imported inside
the handlers so that `clickpipe --help` stays fast, and what they print goes to
`<home>/logs/kfp.log`. Credentials (token, cookies, IAP client secret) are read from a file or
the `KFP_` environment variables of the kfp CLI, so that they need not appear in `ps`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipeline.cli.common import EXIT_OK, UserError, command_log, quiet_libraries
from pipeline.config import ClickpipeConfig, load_config


def register(commands, group) -> None:
    """Adds the `kfp` command group."""
    kfp = group("kfp", "Compile, upload, run and schedule the pipeline on Kubeflow Pipelines.")
    config_options = _config_options()
    connection_options = _connection_options()
    experiment_options = _experiment_options()

    compile_ = kfp.add_parser(
        "compile",
        parents=[config_options],
        help="Compile the pipeline to a KFP v2 pipeline spec (YAML).",
        description="Compile the pipeline with TFX's KubeflowV2DagRunner to a KFP v2 YAML spec "
        "(schema 2.1.0). Needs no cluster and no network: the image, pipeline root, data "
        "source and model base path come from the config and must be bucket URIs.",
    )
    compile_.add_argument(
        "--output", help="YAML file to write (default: <kubeflow.compile_dir>/<pipeline.name>.yaml)"
    )
    compile_.set_defaults(handler=_compile)

    upload = kfp.add_parser(
        "upload",
        parents=[config_options, connection_options],
        help="Upload the pipeline, or a new version of it.",
        description="Upload a compiled spec: the first upload creates the pipeline, later ones "
        "add a version. Without --package the pipeline is compiled first.",
    )
    upload.add_argument("--package", help="a compiled YAML spec (default: compile now)")
    upload.add_argument(
        "--version", default="", help="version name (default: <pipeline.name>-<spec digest>)"
    )
    upload.add_argument("--description", default="", help="shown in the KFP UI")
    upload.set_defaults(handler=_upload)

    run = kfp.add_parser(
        "run",
        parents=[config_options, connection_options, experiment_options],
        help="Start one run of the uploaded pipeline.",
        description="Start a run of the newest uploaded version (or --version, or a compiled "
        "--package) in the experiment, with the pipeline root and every runtime parameter "
        "sent explicitly.",
    )
    source = run.add_mutually_exclusive_group()
    source.add_argument("--version", default="", help="uploaded version name (default: newest)")
    source.add_argument("--package", help="run a compiled YAML spec without uploading it")
    run.add_argument("--run-name", default="", help="run name (default: <name>-<span>-<UTC time>)")
    _add_run_options(run)
    run.set_defaults(handler=_run)

    schedule = kfp.add_parser(
        "schedule",
        help="Create, enable, disable or list the monthly recurring run.",
        description="The monthly recurring run: KFP 6-field cron from kubeflow.schedule, one "
        "run at a time (max_concurrency=1) and no catch-up of missed months.",
    )
    actions = schedule.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        parents=[config_options, connection_options, experiment_options],
        help="Create the recurring run for an uploaded version.",
        description="Create a recurring run of the newest uploaded version (or --version) on "
        "the cron of kubeflow.schedule, with max_concurrency=1 and no catch-up.",
    )
    create.add_argument("--version", default="", help="uploaded version name (default: newest)")
    create.add_argument("--cron", help="KFP 6-field cron (default: kubeflow.schedule)")
    create.add_argument("--name", default="", help="recurring run name (default: <name>-monthly)")
    create.add_argument("--disabled", action="store_true", help="create it disabled")
    _add_run_options(create)
    create.set_defaults(handler=_schedule_create)
    for action, enabled in (("enable", True), ("disable", False)):
        toggle = actions.add_parser(
            action,
            parents=[config_options, connection_options],
            help=f"{action.capitalize()} a recurring run.",
            description=f"{action.capitalize()} a recurring run by id "
            "(see `clickpipe kfp schedule list`).",
        )
        toggle.add_argument("recurring_run_id", help="the recurring run id")
        toggle.set_defaults(handler=_schedule_toggle, enabled=enabled)
    listing = actions.add_parser(
        "list",
        parents=[config_options, connection_options, experiment_options],
        help="List the experiment's recurring runs.",
        description="List the experiment's recurring runs with their id, mode and cron.",
    )
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default: 20)")
    listing.set_defaults(handler=_schedule_list)

    runs = kfp.add_parser(
        "runs",
        parents=[config_options, connection_options, experiment_options],
        help="List the experiment's runs, newest first.",
        description="List the experiment's runs, newest first, with id, state and start time.",
    )
    runs.add_argument("--limit", type=int, default=20, help="at most this many (default: 20)")
    runs.set_defaults(handler=_runs)


def _config_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--config", help="config TOML (default: the built-in ad-click config)")
    return options


def _connection_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    auth = options.add_argument_group("KFP connection (the options of kfp.Client)")
    auth.add_argument(
        "--host", help="KFP API endpoint, e.g. http://localhost:8080 (default: kubeflow.host)"
    )
    auth.add_argument("--namespace", default="", help="your namespace on a multi-user Kubeflow")
    for secret in SECRETS:
        auth.add_argument(
            secret.flag,
            default="",
            help=f"{secret.help} (visible to other users in `ps`: prefer ${secret.envs[0]} or {secret.flag}-file)",
        )
        auth.add_argument(
            f"{secret.flag}-file", default="", metavar="FILE", help=f"read {secret.flag} from this file"
        )
    auth.add_argument("--client-id", default="", help="IAP OAuth client id")
    auth.add_argument(
        "--other-client-id", default="", help="OAuth client id used to get the IAP token"
    )
    auth.add_argument("--proxy", default="", help="HTTP(S) proxy")
    auth.add_argument("--ssl-ca-cert", default="", help="CA bundle for the host's TLS certificate")
    auth.add_argument(
        "--kube-context", default="", help="kube config context, when no host is given"
    )
    auth.add_argument("--no-verify-ssl", action="store_true", help="skip TLS verification")
    return options


def _experiment_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--experiment", help="KFP experiment (default: kubeflow.experiment)")
    options.add_argument(
        "--create-experiment", action="store_true", help="create the experiment if it is missing"
    )
    return options


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="runtime parameter, e.g. span=2026-10 (default: span from dataset.span)",
    )
    parser.add_argument(
        "--service-account", default="", help="Kubernetes service account of the pods"
    )


@contextlib.contextmanager
def _working(config: ClickpipeConfig) -> Iterator[None]:
    """Library output goes to `<home>/logs/kfp.log`; errors a user can fix become one line."""
    with quiet_libraries(command_log(config.pipeline.home, "kfp")):
        from kubeflow.compile import CompileError
        from kubeflow.parameters import ParameterError
        from kubeflow.submit import KfpError

        try:
            yield
        except (CompileError, ParameterError, KfpError) as exc:
            raise UserError(str(exc)) from None


def _compile_now(config: ClickpipeConfig, output: str | None):
    from kubeflow.compile import compile_pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return compile_pipeline(config, Path(output) if output else None)


def _compile(args: argparse.Namespace) -> int:
    from kubeflow.compile import KFP_COMMAND

    config = load_config(args.config)
    with _working(config):
        compiled = _compile_now(config, args.output)
    uncached = [
        name
        for name, task in sorted(compiled.spec["root"]["dag"]["tasks"].items())
        if not task.get("cachingOptions", {}).get("enableCache")
    ]
    print(f"clickpipe: compiled {len(compiled.tasks)} tasks to {compiled.path}")
    print(f"  image          {config.kubeflow.image}")
    print(f"  command        {' '.join(KFP_COMMAND)}")
    print(f"  pipeline root  {compiled.spec['defaultPipelineRoot']}")
    for name, default in compiled.parameters.items():
        print(f"  parameter      {name} (default {default!r})")
    print(f"  not cached     {', '.join(uncached) or '(none)'}")
    return EXIT_OK


@dataclass(frozen=True)
class Secret:
    """A credential option: its flag, a `<flag>-file` twin, and the environment variables read
    when neither is given (the kfp CLI's `KFP_` names, then kfp.Client's own, if any)."""

    flag: str
    envs: tuple[str, ...]
    help: str

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")


SECRETS = (
    Secret("--existing-token", ("KFP_EXISTING_TOKEN",), "bearer token obtained outside the SDK"),
    Secret("--cookies", ("KFP_COOKIES",), "cookie header, e.g. an authservice session"),
    Secret(
        "--other-client-secret",
        ("KFP_OTHER_CLIENT_SECRET", "KF_PIPELINES_APP_OAUTH2_CLIENT_SECRET"),
        "secret of --other-client-id",
    ),
)


def secret_value(args: argparse.Namespace, secret: Secret, environ: Mapping[str, str]) -> str:
    """A credential from its flag, its file, or the environment, in that order ("" if none).

    Raises:
        UserError: both the flag and its file are given, or the file cannot be read or is empty.
    """
    value, path = getattr(args, secret.dest), getattr(args, f"{secret.dest}_file")
    if value and path:
        raise UserError(f"give {secret.flag} or {secret.flag}-file, not both")
    if value:
        print(
            f"clickpipe: warning: {secret.flag} on the command line is visible to other users "
            f"(ps, /proc); use ${secret.envs[0]} or {secret.flag}-file",
            file=sys.stderr,
        )
        return value
    if path:
        try:
            text = Path(path).read_text().strip()
        except OSError as exc:
            raise UserError(f"{secret.flag}-file {path}: {exc.strerror}") from None
        if not text:
            raise UserError(f"{secret.flag}-file {path} is empty")
        return text
    return next((environ[name] for name in secret.envs if environ.get(name)), "")


def _connection(args: argparse.Namespace, config: ClickpipeConfig) -> dict:
    """The fields of `kubeflow.submit.Connection`, credentials included (read before any
    library loads, so that their warnings reach the terminal)."""
    secrets = {secret.dest: secret_value(args, secret, os.environ) for secret in SECRETS}
    return dict(
        host=args.host or config.kubeflow.host,
        namespace=args.namespace,
        client_id=args.client_id,
        other_client_id=args.other_client_id,
        proxy=args.proxy,
        ssl_ca_cert=args.ssl_ca_cert,
        kube_context=args.kube_context,
        verify_ssl=not args.no_verify_ssl,
        **secrets,
    )


def _session(connection: dict):
    from kubeflow.submit import Connection, KfpSession

    return KfpSession(Connection(**connection))


def _existing_package(path: str) -> Path:
    package = Path(path)
    if not package.is_file():
        raise UserError(f"--package {path}: no such file (run `clickpipe kfp compile` first)")
    if package.suffix not in (".yaml", ".yml"):
        raise UserError(f"--package {path}: expected the compiled .yaml spec")
    return package


def _upload(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    package = _existing_package(args.package) if args.package else None
    connection = _connection(args, config)
    with _working(config):
        if package is None:
            package = _compile_now(config, None).path
        digest = hashlib.sha256(package.read_bytes()).hexdigest()[:12]
        version_name = args.version or f"{config.pipeline.name}-{digest}"
        uploaded = _session(connection).upload(
            package, config.pipeline.name, version_name, args.description
        )
    version = uploaded.version
    what = "new pipeline" if uploaded.new_pipeline else "pipeline"
    print(
        f"clickpipe: uploaded version {version.version_name!r} (id {version.version_id}) of "
        f"{what} {config.pipeline.name!r} (id {version.pipeline_id})"
    )
    return EXIT_OK


def _experiment(args: argparse.Namespace, config, session) -> tuple[str, str]:
    """The experiment of --experiment (else the config's) and its id, created when
    --create-experiment asks for it."""
    experiment = args.experiment or config.kubeflow.experiment
    return experiment, session.experiment_id(experiment, create=args.create_experiment)


def _submission(args: argparse.Namespace, config, connection) -> tuple[dict, object, str, str]:
    """What a run and a recurring run both start from: (run parameters, session, experiment
    name, experiment id)."""
    from kubeflow.parameters import parameter_values

    parameters = parameter_values(config, args.param)
    session = _session(connection)
    return parameters, session, *_experiment(args, config, session)


def _run(args: argparse.Namespace) -> int:
    from kubeflow.parameters import SPAN

    config = load_config(args.config)
    package = _existing_package(args.package) if args.package else None
    connection = _connection(args, config)
    with _working(config):
        parameters, session, experiment, experiment_id = _submission(args, config, connection)
        version = None if package else session.version(config.pipeline.name, args.version)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        run_name = args.run_name or f"{config.pipeline.name}-{parameters[SPAN.name]}-{stamp}"
        run_id = session.start_run(
            experiment_id=experiment_id,
            run_name=run_name,
            parameters=parameters,
            pipeline_root=config.kubeflow.pipeline_root,
            version=version,
            package=package,
            service_account=args.service_account,
        )
    source = f"version {version.version_name!r}" if version else str(package)
    print(
        f"clickpipe: started run {run_name!r} (id {run_id}) of {source} "
        f"in experiment {experiment!r}"
    )
    return EXIT_OK


def _schedule_create(args: argparse.Namespace) -> int:
    from kubeflow.submit import check_cron

    config = load_config(args.config)
    connection = _connection(args, config)
    with _working(config):
        if args.cron:
            cron = check_cron(args.cron, "--cron")
        else:
            cron = check_cron(config.kubeflow.schedule, "kubeflow.schedule")
        parameters, session, experiment, experiment_id = _submission(args, config, connection)
        version = session.version(config.pipeline.name, args.version)
        name = args.name or f"{config.pipeline.name}-monthly"
        recurring_run_id = session.schedule(
            experiment_id=experiment_id,
            name=name,
            version=version,
            cron=cron,
            parameters=parameters,
            pipeline_root=config.kubeflow.pipeline_root,
            enabled=not args.disabled,
            service_account=args.service_account,
        )
    state = "disabled" if args.disabled else "enabled"
    print(
        f"clickpipe: created recurring run {name!r} (id {recurring_run_id}, {state}) of version "
        f"{version.version_name!r} on cron {cron!r}, max_concurrency=1, no catch-up"
    )
    return EXIT_OK


def _schedule_toggle(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    connection = _connection(args, config)
    with _working(config):
        _session(connection).set_schedule_enabled(args.recurring_run_id, args.enabled)
    state = "enabled" if args.enabled else "disabled"
    print(f"clickpipe: {state} recurring run {args.recurring_run_id}")
    return EXIT_OK


def _listing(args: argparse.Namespace, what: str, lister, line) -> int:
    """Prints `line(row)` for each of `what` that `lister(session)(experiment id, --limit)` lists."""
    config = load_config(args.config)
    connection = _connection(args, config)
    with _working(config):
        session = _session(connection)
        experiment, experiment_id = _experiment(args, config, session)
        rows = lister(session)(experiment_id, args.limit)
    if not rows:
        print(f"clickpipe: no {what} in experiment {experiment!r}")
    for row in rows:
        print(line(row))
    return EXIT_OK


def _schedule_list(args: argparse.Namespace) -> int:
    return _listing(
        args,
        "recurring runs",
        lambda session: session.schedules,
        lambda row: f"{row.recurring_run_id}  {row.mode:<8} {row.cron:<16} {row.name}",
    )


def _runs(args: argparse.Namespace) -> int:
    return _listing(
        args,
        "runs",
        lambda session: session.runs,
        lambda row: f"{row.run_id}  {row.state:<10} {row.created_at:<26} {row.name}",
    )
