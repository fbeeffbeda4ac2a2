"""The ingestion Beam pipeline end to end, reading from the GCS emulator over HTTP."""

import gzip
import json
import shutil

import apache_beam as beam
import pytest
import tensorflow as tf

from components.artifacts import CREATIVES_FOLDER, THUMBNAILS_FILE
from components.ingest.executor import IngestError, IngestSettings, ingest
from tests.bad_creatives import bad_creatives
from tests.components.ingest import dataset as ds
from tests.components.ingest.fault_proxy import RESET, STATUS_429, STATUS_503, FaultPlan, fault_proxy
from trainer import images, rows
from trainer.rows import HeaderError

pytestmark = pytest.mark.integration

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def run_ingest(source, out, span="latest", window=1, max_fraction=0.0, eval_percent=20):
    settings = IngestSettings(
        source=source,
        impressions_pattern="impressions/{span}/*.csv",
        span=span,
        window=window,
        eval_percent=eval_percent,
        max_quarantined_fraction=max_fraction,
        registry=ds.registry(),
    )
    return ingest(settings, lambda: beam.Pipeline(argv=BEAM_ARGS), str(out / "examples"), str(out / "quarantine"))


def read_split(out, split):
    files = sorted(str(p) for p in (out / "examples" / f"Split-{split}").glob("data_tfrecord-*.gz"))
    assert files, f"no TFRecord files in Split-{split}"
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [tf.train.Example.FromString(r.numpy()) for r in records]


def stored_creatives(out):
    """The Examples artifact's stored model inputs, as a list of (key, thumbnail)."""
    files = sorted(str(p) for p in (out / "examples" / CREATIVES_FOLDER).glob(f"{THUMBNAILS_FILE}-*.gz"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [(f["key"].bytes_list.value[0], f["thumbnail"].bytes_list.value[0])
            for f in (tf.train.Example.FromString(r.numpy()).features.feature for r in records)]


def row_creatives(out):
    """Each row's creative as the trainer and the gate see it: the model input, a training row's
    key resolved through the stored creatives."""
    stored = dict(stored_creatives(out))
    found = []
    for split in rows.SPLITS:
        for example in read_split(out, split):
            value = example.features.feature["creative"].bytes_list.value[0]
            # Training rows name their input by key; eval rows carry it, as a client sends a creative.
            assert value.startswith(images.THUMBNAIL_KEY_PREFIX) == (split == rows.TRAIN)
            found.append((example, stored[value] if split == rows.TRAIN else value))
    return found


def ids_by_split(out):
    return {
        split: sorted(e.features.feature["impression_id"].bytes_list.value[0].decode() for e in read_split(out, split))
        for split in rows.SPLITS
    }


def read_quarantine(out):
    found = []
    for path in sorted((out / "quarantine").glob("quarantined_rows-*.jsonl")):
        found += [json.loads(line) for line in path.read_text().splitlines()]
    return found


@pytest.fixture
def clean_source(tmp_path, upload):
    root = tmp_path / "data"
    ds.write_months(root, {"2026-09": 30, "2026-10": 60}, ads=4)
    return upload(root), root


def test_window_ingests_every_row_with_its_creative(clean_source, tmp_path):
    url, root = clean_source
    selection, counts = run_ingest(url, tmp_path / "out", window=2)
    assert selection.months == ("2026-09", "2026-10")
    assert counts.read == 90 and counts.rows_written == 90 and counts.rows_quarantined == 0
    found = row_creatives(tmp_path / "out")
    assert len(found) == 90
    examples = [example for example, _ in found]
    for example, model_input in found:
        feature = example.features.feature
        ad_id = feature["ad_id"].bytes_list.value[0].decode()
        creative = (root / "creatives" / f"{ad_id}.png").read_bytes()
        # The creative's model input, computed as the serving graph does.
        assert model_input == images.thumbnails([creative], ds.registry().image_size)[0]
        assert feature["clicked"].int64_list.value == [1]
        assert feature["bid_price"].float_list.value == [pytest.approx(0.42)]
        assert feature["ad_title"].bytes_list.value == [b"Fast shoes, for runners"]
    assert {e.features.feature["ad_id"].bytes_list.value[0] for e in examples} == {b"ad_0", b"ad_1", b"ad_2", b"ad_3"}
    assert counts.written == {split: len(read_split(tmp_path / "out", split)) for split in rows.SPLITS}
    # Each distinct creative's input is stored once, under its own digest.
    stored = stored_creatives(tmp_path / "out")
    assert len(stored) == len({key for key, _ in stored}) == 4
    assert all(key == images.thumbnail_key(thumbnail) for key, thumbnail in stored)


def test_splits_are_the_same_every_run_and_follow_the_id_hash(clean_source, tmp_path):
    url, root = clean_source
    run_ingest(url, tmp_path / "first")
    # The same span from a local copy of the bucket: same code, same split.
    run_ingest(str(root), tmp_path / "second")
    first, second = ids_by_split(tmp_path / "first"), ids_by_split(tmp_path / "second")
    assert first == second
    assert first[rows.EVAL] and first[rows.TRAIN]
    assert all(rows.split_of(i, 20) == split for split, ids in first.items() for i in ids)


def test_every_bad_row_kind_is_quarantined_and_counted(tmp_path, upload):
    root = tmp_path / "data"
    ds.write_creatives(root, ["ad_0", "ad_1"])
    (root / "creatives" / "ad_broken.png").write_bytes(ds.png()[:20])
    bad = [
        "NOT_UTF8",  # replaced by invalid UTF-8 bytes below
        'imp-b1,"never closed',
        "imp-b2,too,few",
        ds.csv_line(ds.row("imp-b3", user_prior_clicks="many")),
        ds.csv_line(ds.row("imp-b4", clicked="1.5")),
        ds.csv_line(ds.row("imp-b8", clicked="99999999999999999999")),
        ds.csv_line(ds.row("imp-b5", ad_id="ad_missing")),
        ds.csv_line(ds.row("imp-b6", ad_id="ad_broken")),
        ds.csv_line(ds.row("imp-b7", ad_id="ad_broken")),
    ]
    multiline = ds.csv_line(ds.row("imp-ml", ad_id="ad_0", ad_title="Fast shoes,\nfor runners"))
    lines = ds.good_lines("2026-10", 40, ads=2) + bad + [multiline, ""]
    ds.write_span(root, "2026-10", lines, shards=2)
    for shard in (root / "impressions" / "2026-10").iterdir():
        shard.write_bytes(shard.read_bytes().replace(b"NOT_UTF8", b"\xff\xfe,x"))
    url = upload(root)
    _, counts = run_ingest(url, tmp_path / "out", max_fraction=0.5)
    assert counts.read == 50
    assert counts.quarantined == {
        rows.UNPARSEABLE_LINE: 2,
        rows.WRONG_COLUMN_COUNT: 1,
        rows.BAD_VALUE_TYPE: 3,
        rows.MISSING_CREATIVE: 1,
        rows.UNDECODABLE_IMAGE: 2,
    }
    assert counts.rows_written + counts.rows_quarantined == counts.read
    quarantined = read_quarantine(tmp_path / "out")
    assert len(quarantined) == 9
    by_reason = {}
    for record in quarantined:
        by_reason[record["reason"]] = by_reason.get(record["reason"], 0) + 1
        assert record["file"].startswith("impressions/2026-10/") and record["line"] >= 2
    assert by_reason == counts.quarantined
    assert {r["row"] for r in quarantined if r["reason"] == rows.MISSING_CREATIVE} == {
        ds.csv_line(ds.row("imp-b5", ad_id="ad_missing"))
    }
    written = ids_by_split(tmp_path / "out")
    assert len(written[rows.TRAIN]) + len(written[rows.EVAL]) == 41


def test_too_many_quarantined_rows_stop_the_run_and_say_why(tmp_path, upload):
    root = tmp_path / "data"
    ds.write_creatives(root, ["ad_0"])
    lines = ds.good_lines("2026-10", 18, ads=1) + [ds.csv_line(ds.row(f"x{i}", bid_price="?")) for i in range(2)]
    ds.write_span(root, "2026-10", lines)
    url = upload(root)
    with pytest.raises(IngestError) as err:
        run_ingest(url, tmp_path / "out", max_fraction=0.05)
    message = str(err.value)
    assert "2 of 20 rows (10.00%) quarantined, above dataset.max_quarantined_fraction=0.05" in message
    assert "bad_value_type 2" in message and "bid_price='?' is not a number" in message
    _, counts = run_ingest(url, tmp_path / "allowed", max_fraction=0.1)
    assert counts.rows_quarantined == 2 and counts.rows_written == 18


def test_a_span_of_headers_only_is_an_error(tmp_path, upload):
    root = tmp_path / "data"
    ds.write_creatives(root, ["ad_0"])
    ds.write_span(root, "2026-10", [], shards=2)
    with pytest.raises(IngestError, match=r"span 2026-10 under gs://.* is empty: its files hold no rows"):
        run_ingest(upload(root), tmp_path / "out")


def test_a_file_missing_a_column_stops_the_run_naming_it(tmp_path, upload):
    root = tmp_path / "data"
    ds.write_months(root, {"2026-10": 4})
    shard = root / "impressions" / "2026-10" / "impressions-00001-of-00002.csv"
    shard.write_text(shard.read_text().replace("bid_price", "price", 1))
    with pytest.raises(HeaderError, match=r"impressions-00001-of-00002\.csv: header lacks column\(s\) bid_price"):
        run_ingest(upload(root), tmp_path / "out")


def test_transient_storage_errors_are_retried_without_changing_the_output(
    clean_source, tmp_path, gcs_host, monkeypatch
):
    url, _ = clean_source
    run_ingest(url, tmp_path / "clean", window=2)
    faults = [STATUS_503, RESET, STATUS_429] * 2
    plan = FaultPlan(faults, every=3, selects=lambda method, path: path.count("/") > 3)
    with fault_proxy(gcs_host, plan) as proxy:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy)
        _, counts = run_ingest(url, tmp_path / "faulty", window=2)
    assert plan.remaining == 0
    # Faults hit listings, CSV reads and creative reads alike.
    assert any("/o?" in path for _, _, path in plan.injected)
    assert any("impressions" in path for _, _, path in plan.injected)
    assert counts.read == 90 and counts.rows_written == 90
    assert ids_by_split(tmp_path / "faulty") == ids_by_split(tmp_path / "clean")


def test_a_rerun_over_an_interrupted_attempt_leaves_no_duplicates(clean_source, tmp_path):
    url, _ = clean_source
    run_ingest(url, tmp_path / "clean")
    out = tmp_path / "retried"
    # What a killed earlier attempt left in the same output folder: more shards, temp files.
    run_ingest(url, out, window=2)
    train = out / "examples" / "Split-train"
    shutil.copy(next(train.glob("data_tfrecord-*.gz")), train / "data_tfrecord-00001-of-00002.gz")
    (train / ".temp-beam-1234").mkdir()
    with gzip.open(out / "quarantine" / "quarantined_rows-00001-of-00002.jsonl", "wt") as stale:
        stale.write('{"reason": "stale"}\n')
    _, counts = run_ingest(url, out)
    assert ids_by_split(out) == ids_by_split(tmp_path / "clean")
    assert sum(len(ids) for ids in ids_by_split(out).values()) == counts.read == 60
    assert read_quarantine(out) == []


def test_the_error_shows_at_most_a_few_hundred_characters_of_each_quarantined_row():
    from components.ingest.executor import SAMPLE_CHARS, check_counts
    from components.ingest.span_selection import SpanSelection
    from components.ingest.transforms import IngestCounts

    huge = json.dumps({"row": "x" * 3_000_000})
    counts = IngestCounts(read=10, written={"train": 5}, quarantined={rows.BAD_VALUE_TYPE: 5})
    selection = SpanSelection(source="gs://b/p", months=("2026-10",), files=())

    with pytest.raises(IngestError) as err:
        check_counts(counts, selection, max_fraction=0.1, samples=[huge] * 3)

    assert len(str(err.value)) < 4 * SAMPLE_CHARS + 1000
    assert "(3000011 characters)" in str(err.value)


def test_bad_creatives_at_scale_are_quarantined_with_their_reason_and_each_read_once(tmp_path):
    root = tmp_path / "data"
    ds.write_creatives(root, ["ad_0", "ad_1"])
    bad = bad_creatives()
    for name, (data, _) in bad.items():
        (root / "creatives" / f"ad_{name}.png").write_bytes(data)
    named = ["ad_0", "ad_1", *(f"ad_{name}" for name in bad), "ad_missing"]
    # Every creative is named by rows of all three files.
    lines = [ds.csv_line(ds.row(f"imp-{i:04d}", ad_id=named[i % len(named)])) for i in range(6 * len(named))]
    ds.write_span(root, "2026-10", lines, shards=3)
    _, counts = run_ingest(str(root), tmp_path / "out", max_fraction=0.9)
    assert counts.creatives == len(named)
    assert counts.read == len(lines) == counts.rows_written + counts.rows_quarantined
    assert counts.rows_written == 12
    assert counts.quarantined[rows.MISSING_CREATIVE] == 6
    assert counts.quarantined[rows.UNDECODABLE_IMAGE] == 6 * len(bad)
    details = {}
    for record in read_quarantine(tmp_path / "out"):
        details.setdefault(record["detail"].split(":")[0], set()).add(record["detail"])
    for name, (_, phrase) in bad.items():
        [detail] = details[f"creatives/ad_{name}.png"]
        assert phrase in detail


def test_a_creative_changed_between_two_runs_of_a_month_is_read_again(tmp_path):
    root = tmp_path / "data"
    ds.write_months(root, {"2026-10": 12}, ads=2)
    run_ingest(str(root), tmp_path / "first")
    (root / "creatives" / "ad_1.png").write_bytes(ds.png(shade=250, size=6))
    run_ingest(str(root), tmp_path / "second")

    def creatives(out):
        found = {}
        for example, model_input in row_creatives(out):
            found.setdefault(example.features.feature["ad_id"].bytes_list.value[0].decode(), set()).add(model_input)
        return found

    first, second = creatives(tmp_path / "first"), creatives(tmp_path / "second")
    assert first["ad_0"] == second["ad_0"]
    assert first["ad_1"] != second["ad_1"]
    assert second["ad_1"] == {images.thumbnails([ds.png(shade=250, size=6)], ds.registry().image_size)[0]}
