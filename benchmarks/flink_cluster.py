"""An Apache Flink session cluster on loopback for Beam's Flink runner: one JobManager, two
TaskManagers, installed and started by the project itself.

Flink comes from PyPI's ``apache-flink-libraries`` (the distribution's ``lib/`` jars; the package
is downloaded, never installed into the project's venv: ``apache-flink`` pins an older Beam) and
runs on the machine's JDK. Beam reaches Flink only through its job-server jar, fetched by
version from Maven with Maven's own client. Both are cached under ``~/.cache/clickpipe/flink``.
The TaskManagers run Python through Beam's EXTERNAL environment: one SDK worker pool from the
project's venv (``apache_beam.runners.worker.worker_pool_main``) beside them, as a sidecar of
each TaskManager pod would be on Kubernetes.

    python -m benchmarks.flink_cluster up [--home DIR] [--rest-port 8081] [--worker-pool-port 50000]
    python -m benchmarks.flink_cluster status|down [--home DIR]
    python -m benchmarks.flink_cluster jar      # the Beam job-server jar's path, fetched if needed
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# Beam 2.74's Flink runner is published for Flink 1.17-1.20 and 2.0
# (apache_beam.options.pipeline_options.FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS); 1.20 is
# Flink's long-term-support line of 1.x, runs on JDK 17, and is what TFX users deploy today.
FLINK_VERSION = "1.20.3"
FLINK_MINOR = "1.20"
BEAM_VERSION = "2.74.0"
JOB_SERVER = f"org.apache.beam:beam-runners-flink-{FLINK_MINOR}-job-server:{BEAM_VERSION}"
TASKMANAGERS = 2
STARTUP_SECONDS = 90

# What Flink's own launch scripts pass to a JDK 17 (config.yaml's env.java.default-opts.all).
JDK17_OPTS = [
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    *(
        f"--add-opens=java.base/{package}=ALL-UNNAMED"
        for package in (
            "java.lang",
            "java.net",
            "java.io",
            "java.nio",
            "sun.nio.ch",
            "java.lang.reflect",
            "java.text",
            "java.time",
            "java.util",
            "java.util.concurrent",
            "java.util.concurrent.atomic",
            "java.util.concurrent.locks",
        )
    ),
]
JOBMANAGER_MAIN = "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint"
TASKMANAGER_MAIN = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner"
BASH_UTILS_MAIN = "org.apache.flink.runtime.util.bash.BashJavaUtils"
BASH_UTILS_RESULT = "BASH_JAVA_UTILS_EXEC_RESULT:"


class FlinkSetupError(RuntimeError):
    """Flink or Beam's job server could not be installed or started; the message says why."""


def cache_dir() -> Path:
    """Where Flink and the job-server jar are kept between runs."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "clickpipe" / "flink"


def install_flink(cache: Path | None = None, quiet: bool = True) -> Path:
    """Flink's distribution (``lib/`` and ``bin/``) for FLINK_VERSION; downloaded once."""
    home = (cache or cache_dir()) / f"flink-{FLINK_VERSION}"
    if (home / "lib" / f"flink-dist-{FLINK_VERSION}.jar").is_file():
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"installing Flink {FLINK_VERSION} from PyPI's apache-flink-libraries into {home}", flush=True)
    with tempfile.TemporaryDirectory(dir=home.parent) as scratch:
        # The sdist holds the distribution's jars under deps/; pip only downloads it.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary=:all:",
                "-d",
                scratch,
                f"apache-flink-libraries=={FLINK_VERSION}",
            ],
            check=True,
        )
        [archive] = Path(scratch).glob("apache-flink-libraries-*.tar.gz")
        staged = Path(scratch) / "flink"
        with tarfile.open(archive) as tar:
            prefix = f"apache-flink-libraries-{FLINK_VERSION}/deps/"
            members = [
                m for m in tar.getmembers() if m.name.startswith(prefix + "lib/") or m.name.startswith(prefix + "bin/")
            ]
            for member in members:
                member.name = member.name[len(prefix) :]
            tar.extractall(staged, members=members)
        staged.rename(home)
    return home


def fetch_job_server_jar(cache: Path | None = None, quiet: bool = True) -> Path:
    """Beam's Flink job-server jar for BEAM_VERSION, fetched from Maven once with Maven's client.

    Raises:
        FlinkSetupError: Maven is missing, or its repository did not serve the jar.
    """
    folder = cache or cache_dir()
    _, artifact, version = JOB_SERVER.split(":")
    jar = folder / f"{artifact}-{version}.jar"
    if jar.is_file():
        return jar
    if shutil.which("mvn") is None:
        raise FlinkSetupError(f"Maven (mvn) is needed to fetch {JOB_SERVER}: apt-get install maven")
    folder.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"fetching {JOB_SERVER} with Maven into {folder}", flush=True)
    done = subprocess.run(
        [
            "mvn",
            "--batch-mode",
            "--quiet",
            "--update-snapshots",
            "-Dstyle.color=never",
            "dependency:copy",
            f"-Dartifact={JOB_SERVER}",
            f"-DoutputDirectory={folder}",
        ],
        capture_output=True,
        text=True,
        cwd=folder,
    )
    if done.returncode != 0 or not jar.is_file():
        said = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in done.stdout.splitlines() if "ERROR" in line][:1]
        raise FlinkSetupError(
            f"Maven did not fetch Beam's Flink job server {JOB_SERVER}: "
            + (said[0].replace("[ERROR] ", "")[:400] if said else f"mvn exited {done.returncode}")
        )
    return jar


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(rest_port: int, rpc_port: int, taskmanagers: int) -> str:
    settings = {
        "jobmanager.rpc.address": "localhost",
        "jobmanager.rpc.port": rpc_port,
        "jobmanager.bind-host": "127.0.0.1",
        "rest.address": "localhost",
        "rest.bind-address": "127.0.0.1",
        "rest.port": rest_port,
        "taskmanager.bind-host": "127.0.0.1",
        "taskmanager.host": "localhost",
        "blob.server.port": 0,
        "taskmanager.rpc.port": 0,
        "taskmanager.data.port": 0,
        "jobmanager.memory.process.size": "1024m",
        "taskmanager.memory.process.size": "1280m",
        # One slot per TaskManager: a job of parallelism 2 spans both.
        "taskmanager.numberOfTaskSlots": 1,
        "parallelism.default": taskmanagers,
        # A lost TaskManager fails its tasks; the job restarts them on the survivors.
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": 3,
        "restart-strategy.fixed-delay.delay": "2 s",
        "heartbeat.timeout": 15000,
        "heartbeat.interval": 3000,
        "web.submit.enable": True,
    }
    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items())


def _resource_params(flink: Path, conf: Path, command: str) -> tuple[list[str], list[str]]:
    """The JVM and dynamic-config arguments Flink's scripts compute for a JobManager/TaskManager."""
    classpath = os.pathsep.join([str(flink / "bin" / "bash-java-utils.jar"), str(flink / "lib" / "*")])
    done = subprocess.run(
        ["java", *JDK17_OPTS, "-cp", classpath, BASH_UTILS_MAIN, command, "--configDir", str(conf)],
        capture_output=True,
        text=True,
        check=True,
    )
    results = [
        line[len(BASH_UTILS_RESULT) :] for line in done.stdout.splitlines() if line.startswith(BASH_UTILS_RESULT)
    ]
    jvm, dynamic = results[-2], results[-1]
    return jvm.split(), dynamic.split()


@dataclass
class Cluster:
    """A running session cluster: its folder (config, logs, pids) and REST endpoint."""

    home: Path
    rest_port: int
    processes: dict[str, int] = field(default_factory=dict)

    worker_pool_port: int = 0

    @property
    def master(self) -> str:
        """What Beam's --flink_master takes."""
        return f"localhost:{self.rest_port}"

    def beam_args(self, job_server_jar: Path | str) -> list[str]:
        """`pipeline.beam_args` that run Beam stages on this cluster, Python in its worker pool."""
        return [
            "--runner=FlinkRunner",
            f"--flink_master={self.master}",
            f"--flink_version={FLINK_MINOR}",
            f"--flink_job_server_jar={job_server_jar}",
            f"--parallelism={TASKMANAGERS}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{self.worker_pool_port}",
        ]

    def rest(self, path: str):
        with urllib.request.urlopen(f"http://localhost:{self.rest_port}{path}", timeout=10) as answer:
            return json.load(answer)

    def taskmanagers(self) -> list[dict]:
        return self.rest("/taskmanagers")["taskmanagers"]

    def jobs(self) -> list[dict]:
        """Every job the cluster ran or runs, with name, state and vertices (stage names)."""
        overview = self.rest("/jobs/overview")["jobs"]
        return [{**job, "vertices": self.rest(f"/jobs/{job['jid']}")["vertices"]} for job in overview]

    def kill(self, name: str) -> None:
        """Kills one process of the cluster (e.g. "taskmanager-1") at once, as a crash would."""
        os.kill(self.processes[name], signal.SIGKILL)

    def stop(self) -> None:
        for pid in self.processes.values():
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 15
        for pid in self.processes.values():
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
        (self.home / "cluster.json").unlink(missing_ok=True)

    def save(self) -> None:
        state = {"rest_port": self.rest_port, "worker_pool_port": self.worker_pool_port, "processes": self.processes}
        (self.home / "cluster.json").write_text(json.dumps(state))

    @classmethod
    def load(cls, home: Path) -> Cluster | None:
        saved = home / "cluster.json"
        if not saved.is_file():
            return None
        state = json.loads(saved.read_text())
        return cls(home, state["rest_port"], state["processes"], state["worker_pool_port"])


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("localhost", port), timeout=1).close()
        return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        # A child that exited but was not reaped yet counts as gone.
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _launch(flink: Path, conf: Path, logs: Path, name: str, main: str, jvm: list[str], dynamic: list[str]) -> int:
    classpath = os.pathsep.join([str(flink / "lib" / "*")])
    log = logs / f"{name}.log"
    command = [
        "java",
        *JDK17_OPTS,
        *jvm,
        f"-Dlog.file={log}",
        f"-Dlog4j.configurationFile=file:{conf / 'log4j.properties'}",
        "-cp",
        classpath,
        main,
        "--configDir",
        str(conf),
        *dynamic,
    ]
    with open(logs / f"{name}.out", "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return process.pid


LOG4J = """\
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = MainAppender
appender.main.name = MainAppender
appender.main.type = File
appender.main.fileName = ${sys:log.file}
appender.main.layout.type = PatternLayout
appender.main.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
"""


def start_worker_pool(log: Path, port: int) -> int:
    """Starts Beam's SDK worker pool (the project's Python) on `port`; returns its pid.

    Beam's EXTERNAL environment asks it for workers; each runs as the venv's `python`."""
    with open(log, "w") as out:
        pool = subprocess.Popen(
            [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # The pool starts each SDK worker as plain `python`: the venv's.
            env={**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])},
        )
    return pool.pid


def start_cluster(
    home: Path,
    rest_port: int | None = None,
    worker_pool_port: int | None = None,
    taskmanagers: int = TASKMANAGERS,
    quiet: bool = True,
) -> Cluster:
    """Installs Flink if needed and starts a JobManager, `taskmanagers` TaskManagers and a Beam SDK
    worker pool (the project's Python) on loopback; free ports where none are given.

    Returns once every TaskManager has registered with the JobManager.

    Raises:
        FlinkSetupError: Java is missing or the cluster did not come up (the logs are named).
    """
    if shutil.which("java") is None:
        raise FlinkSetupError("Flink needs a JDK (17): apt-get install openjdk-17-jre-headless")
    flink = install_flink(quiet=quiet)
    conf, logs = home / "conf", home / "log"
    conf.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(home, rest_port or free_port())
    (conf / "config.yaml").write_text(_config(cluster.rest_port, free_port(), taskmanagers))
    (conf / "log4j.properties").write_text(LOG4J)
    jm_jvm, jm_dynamic = _resource_params(flink, conf, "GET_JM_RESOURCE_PARAMS")
    cluster.processes["jobmanager"] = _launch(flink, conf, logs, "jobmanager", JOBMANAGER_MAIN, jm_jvm, jm_dynamic)
    tm_jvm, tm_dynamic = _resource_params(flink, conf, "GET_TM_RESOURCE_PARAMS")
    for number in range(1, taskmanagers + 1):
        name = f"taskmanager-{number}"
        extra = ["-D", f"taskmanager.resource-id={name}"]
        cluster.processes[name] = _launch(flink, conf, logs, name, TASKMANAGER_MAIN, tm_jvm, tm_dynamic + extra)
    cluster.worker_pool_port = worker_pool_port or free_port()
    cluster.processes["worker-pool"] = start_worker_pool(logs / "worker-pool.log", cluster.worker_pool_port)
    cluster.save()
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if len(cluster.taskmanagers()) == taskmanagers and _listening(cluster.worker_pool_port):
                return cluster
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if not all(_alive(pid) for pid in cluster.processes.values()):
            break
        time.sleep(0.5)
    cluster.stop()
    raise FlinkSetupError(f"the Flink cluster did not start within {STARTUP_SECONDS} s; see the logs in {logs}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flink_cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down", "status", "jar"])
    parser.add_argument("--home", type=Path, default=cache_dir() / "cluster", help="config, logs and pids")
    parser.add_argument("--rest-port", type=int, default=8081, help="the JobManager's REST port (--flink_master)")
    parser.add_argument(
        "--worker-pool-port", type=int, default=50000, help="the SDK worker pool (--environment_config)"
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "jar":
            print(fetch_job_server_jar(quiet=False))
            return 0
        running = Cluster.load(args.home)
        if args.action == "down":
            if running:
                running.stop()
            return 0
        if args.action == "status":
            if not running:
                print("no cluster started from", args.home)
                return 1
            taskmanagers = len(running.taskmanagers())
            print(
                json.dumps(
                    {
                        "master": running.master,
                        "taskmanagers": taskmanagers,
                        "worker_pool": f"localhost:{running.worker_pool_port}",
                    }
                )
            )
            return 0
        if running:
            running.stop()
        cluster = start_cluster(args.home, args.rest_port, args.worker_pool_port, quiet=False)
        print(
            f"Flink {FLINK_VERSION}: JobManager at http://{cluster.master}, {TASKMANAGERS} TaskManagers,"
            f" SDK worker pool at localhost:{cluster.worker_pool_port}; logs in {args.home / 'log'}"
        )
        return 0
    except (FlinkSetupError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
