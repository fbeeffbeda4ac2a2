"""Files written by a DoFn under bundle retries: an attempt is invisible until it publishes, a
retry republishes the same names, and what a dead attempt left is dropped."""

import functools

import apache_beam as beam
import pytest
import tensorflow as tf

from components.artifacts import CREATIVES_FOLDER
from components.ingest import transforms
from components.ingest.attempts import ATTEMPTS_FOLDER, Attempt, drop_attempts
from components.ingest.executor import IngestSettings, ingest
from tests.components.ingest import dataset as ds

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


@pytest.mark.unit
def test_an_attempt_is_invisible_until_published_and_a_retry_replaces_it(tmp_path):
    base = str(tmp_path)
    dead = Attempt()
    with open(dead.stage(base, "Split-train/part-0"), "w") as half:
        half.write("half of the rows")
    assert not (tmp_path / "Split-train" / "part-0").exists()

    retry = Attempt()
    with open(retry.stage(base, "Split-train/part-0"), "w") as whole:
        whole.write("every row")
    retry.publish()
    retry.publish()  # a duplicate attempt publishing again changes nothing

    assert (tmp_path / "Split-train" / "part-0").read_text() == "every row"
    assert [p.name for p in (tmp_path / ATTEMPTS_FOLDER).iterdir()] == [dead.id]
    drop_attempts(base, str(tmp_path / "never-written"))
    assert not (tmp_path / ATTEMPTS_FOLDER).exists()


class WorkerLost(Exception):
    """What a runner sees when the worker running a bundle dies."""


def run_ingest(source, out):
    settings = IngestSettings(
        source=str(source),
        impressions_pattern="impressions/{span}/*.csv",
        span="latest",
        window=1,
        eval_percent=20,
        max_quarantined_fraction=0.5,
        registry=ds.registry(),
    )
    ingest(settings, lambda: beam.Pipeline(argv=BEAM_ARGS), str(out / "examples"), str(out / "quarantine"))


def written(out):
    """Every output file a reader sees, by name: examples as their records, quarantine as its
    lines (readers glob Split-*/ and quarantined_rows*, never the attempts' folders)."""
    found = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and ATTEMPTS_FOLDER not in path.parts:
            name = str(path.relative_to(out))
            if path.suffix == ".gz":
                records = tf.data.TFRecordDataset(str(path), compression_type="GZIP")
                # As messages: a feature map's serialized order may differ between processes.
                found[name] = [tf.train.Example.FromString(r.numpy()) for r in records]
            else:
                found[name] = path.read_text().splitlines()
    return found


@pytest.mark.integration
def test_a_bundle_retried_after_its_worker_died_mid_file_leaves_what_one_clean_attempt_does(tmp_path, monkeypatch):
    root = tmp_path / "data"
    lines = ds.good_lines("2026-10", 90, ads=3) + [ds.csv_line(ds.row("imp-bad", clicked="1.5"))]
    ds.write_span(root, "2026-10", lines, shards=2)
    ds.write_creatives(root, ["ad_0", "ad_1", "ad_2"])
    # Batches of 16 rows: the first attempt at each file dies after writing some of them.
    monkeypatch.setattr(transforms, "BATCH_ROWS", 16)
    run_ingest(root, tmp_path / "clean")

    ingest_batch, process = transforms.IngestFile._ingest_batch, transforms.IngestFile.process
    died = []

    def dying_batch(self, file, *args):
        ingest_batch(self, file, *args)
        if file not in died:
            died.append(file)
            raise WorkerLost(file)

    @functools.wraps(process)
    def retried(self, *args, **kwargs):
        # The runner's retry in miniature: the same element, again, on a live worker.
        try:
            return process(self, *args, **kwargs)
        except WorkerLost:
            # Nothing of the dead attempt is visible under an output's name.
            shard = f"-{args[0][0]:05d}-of-"
            assert not [name for name in written(tmp_path / "retried") if shard in name]
            return process(self, *args, **kwargs)

    monkeypatch.setattr(transforms.IngestFile, "_ingest_batch", dying_batch)
    monkeypatch.setattr(transforms.IngestFile, "process", retried)
    run_ingest(root, tmp_path / "retried")

    assert len(died) == 2
    clean, retried_files = written(tmp_path / "clean"), written(tmp_path / "retried")
    assert sorted(clean) == sorted(retried_files)
    assert clean == retried_files
    assert sum(len(v) for k, v in clean.items() if "Split-" in k) == 90
    # Each creative's model input once, however many rows and attempts named it.
    assert sum(len(v) for k, v in clean.items() if CREATIVES_FOLDER in k) == 3
    assert sum(len(v) for k, v in clean.items() if k.endswith(".jsonl")) == 1
    # What the dead attempts left was dropped once every file was in.
    assert not list((tmp_path / "retried").rglob(ATTEMPTS_FOLDER))
