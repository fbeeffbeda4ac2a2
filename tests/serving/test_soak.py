"""A bounded soak: memory holds steady over version swaps and failed loads.

A server lives for months, loads a new version every month and tries again on every failed
push; each swap and each failed load must give back what it took. The stand-in versions weigh
as much in their session (weights) as in their `tf.Graph`, as real models' graphs do, so a
version kept alive, or a graph left for a later garbage collection, shows in the RSS.
"""

from __future__ import annotations

import os
import resource
import shutil
from pathlib import Path

import numpy as np
import pytest

from serving import warmup
from serving.client import RestClient
from serving.manager import State
from serving.server import ModelServer, ServerOptions
from tests.serving import models

pytestmark = pytest.mark.integration

MEGABYTES = 32
SWAPS = 8
FAILED_LOADS = 4
MB = 1024 * 1024


def rss_bytes() -> int:
    """This process's resident set size now."""
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * resource.getpagesize()


def push(template: Path, target: Path) -> None:
    """Links `template`'s files into `target`, saved_model.pb last (the Pusher's order)."""
    shutil.copytree(
        template, target, copy_function=os.link, ignore=shutil.ignore_patterns("saved_model.pb")
    )
    os.link(template / "saved_model.pb", target / "saved_model.pb")


def test_memory_holds_steady_over_version_swaps_and_failed_loads(tmp_path):
    template = models.build_weighty_version(tmp_path / "template", MEGABYTES)
    failing = tmp_path / "failing"  # loads in full, then fails its warmup
    shutil.copytree(template, failing)
    warmup.write_warmup_requests(
        str(failing), [warmup.predict_log({"x": np.zeros(1, np.float32)}, "no_such_signature")]
    )
    base = tmp_path / "m"
    push(template, base / "1")
    options = ServerOptions(file_system_poll_wait_seconds=0)
    readings = []
    with ModelServer(str(base), "m", rest_port=0, grpc_port=0, options=options) as server:
        client = RestClient(server.rest_url)
        version = 1
        for _ in range(SWAPS):
            version += 1
            push(template, base / str(version))
            server.manager.poll_once()
            assert server.model_status("m")[0].state == State.AVAILABLE
            assert client.predict("m", {"x": [1.5]}, "predict_raw")["y"].tolist() == [1.5]
            readings.append(rss_bytes())
        serving = version
        for _ in range(FAILED_LOADS):
            version += 1
            push(failing, base / str(version))
            server.manager.poll_once()
            assert server.manager.status("m", version)[0].state == State.END
            assert server.manager.resolve("m").version == serving
            readings.append(rss_bytes())
        client.close()
    growth = max(readings) - readings[0]
    # A version is 2 x MEGABYTES; leaking either half would add MEGABYTES per step or more.
    assert growth < 2 * MEGABYTES * MB, [reading // MB for reading in readings]
