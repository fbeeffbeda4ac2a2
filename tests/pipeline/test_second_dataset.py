"""Another dataset by config alone: trips in one CSV, no images, no id column, a derived label.

The recipe of docs/config.md as a new user follows it, through the CLI on the real
LocalDagRunner: write a config, `clickpipe schema infer` a month (it ingests the month and
computes its statistics), point `validation.schema_file` at the proposal, `clickpipe run`.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from pipeline import cli, nodes
from pipeline.cli.common import EXIT_OK
from pipeline.config import load_config
from pipeline.local import metadata

pytestmark = pytest.mark.e2e

MONTH = "2025-02"
ROWS = 3000
# Rows of the month before and after share the file: other spans, neither examples nor rejections.
OTHER_MONTH_ROWS = {"2025-01": 400, "2025-03": 300}
PAYMENT_TIP_RATE = {"card": 0.7, "app": 0.5, "cash": 0.05}

CONFIG = """\
[pipeline]
name = "trips"
home = "{home}"

[dataset]
source = "{data}"
span_column = "pickup_datetime"
span = "{month}"
label = "tipped"
label_rule = {{ column = "tip_amount", op = ">", right = {{ column = "fare_amount", times = 0.2 }} }}
prediction = "tip_probability"
slices = [["payment_type"]]

[[dataset.features]]
name = "payment_type"
kind = "categorical"

[[dataset.features]]
name = "borough"
kind = "categorical"

[[dataset.features]]
name = "trip_miles"
kind = "numeric"

[[dataset.features]]
name = "fare_amount"
kind = "numeric"

[training]
epochs = 8
batch_size = 64

[serving]
model_name = "trips"
"""


def _trip_rows(rng: np.random.Generator, month: str, count: int) -> list[dict]:
    payment = rng.choice(list(PAYMENT_TIP_RATE), size=count, p=[0.6, 0.2, 0.2])
    miles = rng.gamma(2.0, 1.5, size=count)
    fare = 3.0 + 2.5 * miles + rng.normal(0, 1, size=count).clip(-2, 2)
    tipped = rng.random(count) < np.vectorize(PAYMENT_TIP_RATE.get)(payment)
    tip = np.where(tipped, fare * rng.uniform(0.21, 0.3, size=count), fare * rng.uniform(0, 0.19, size=count))
    days = rng.integers(1, 29, size=count)
    return [
        {
            "pickup_datetime": f"{month}-{days[i]:02d} {i % 24:02d}:{i % 60:02d}:00",
            "payment_type": payment[i],
            "borough": rng.choice(["Manhattan", "Brooklyn", "Queens"]),
            "trip_miles": f"{miles[i]:.2f}",
            "fare_amount": f"{fare[i]:.2f}",
            "tip_amount": f"{tip[i]:.2f}",
        }
        for i in range(count)
    ]


def _write_trips(folder) -> None:
    rng = np.random.default_rng(5)
    rows = _trip_rows(rng, MONTH, ROWS)
    for month, count in OTHER_MONTH_ROWS.items():
        rows += _trip_rows(rng, month, count)
    rows.append({**rows[0], "pickup_datetime": "not a time"})
    rng.shuffle(rows)
    folder.mkdir(parents=True)
    # Two files, both holding rows of every month.
    for index, part in enumerate((rows[: len(rows) // 2], rows[len(rows) // 2 :])):
        with open(folder / f"trips-{index}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(part[0]))
            writer.writeheader()
            writer.writerows(part)


@pytest.fixture(scope="module")
def trips(tmp_path_factory):
    work = tmp_path_factory.mktemp("trips")
    _write_trips(work / "data")
    config_path = work / "trips.toml"
    config_path.write_text(CONFIG.format(home=work / "home", data=work / "data", month=MONTH))
    proposal = work / "trips-schema.pbtxt"
    inferred = cli.main(["schema", "infer", MONTH, "--config", str(config_path), "--out", str(proposal)])
    with config_path.open("a") as f:
        f.write(f'\n[validation]\nschema_file = "{proposal}"\n')
    ran = cli.main(["run", "--config", str(config_path)])
    return load_config(config_path), inferred, ran, proposal


def test_schema_infer_proposes_a_schema_for_the_new_dataset(trips):
    _, inferred, _, proposal = trips
    assert inferred == EXIT_OK
    text = proposal.read_text()
    assert 'name: "tipped"' in text  # the derived label is a column of the examples
    assert 'name: "payment_type"' in text


def test_the_run_trains_blesses_and_pushes_by_config_alone(trips):
    config, _, ran, _ = trips
    assert ran == EXIT_OK
    store = metadata.open_store(config.pipeline.metadata_path)
    states = {
        node: metadata.latest_node_record(store, config.pipeline.name, node).state
        for node in (nodes.INGEST, nodes.VALIDATE, nodes.TRAIN, nodes.EVALUATE, nodes.PUSH)
    }
    assert set(states.values()) <= {"COMPLETE", "CACHED"}, states


def test_ingestion_keeps_the_month_and_quarantines_the_bad_timestamp(trips):
    config, *_ = trips
    store = metadata.open_store(config.pipeline.metadata_path)
    examples = metadata.latest_node_record(store, config.pipeline.name, nodes.INGEST).output("examples")
    read = metadata.custom_property(examples, "rows_read")
    written = metadata.custom_property(examples, "rows_written")
    quarantined = metadata.custom_property(examples, "rows_quarantined")
    assert (written, quarantined) == (ROWS, 1)
    assert read == written + quarantined


def test_the_served_model_names_its_output_by_the_config(trips):
    import tensorflow as tf

    from components import push_records

    config, *_ = trips
    [version] = push_records.pushed_versions(config.model_base_path)
    model = tf.saved_model.load(str(version.path))
    example = tf.train.Example()
    for name, value in (("payment_type", b"card"), ("borough", b"Queens")):
        example.features.feature[name].bytes_list.value.append(value)
    for name, value in (("trip_miles", 2.0), ("fare_amount", 8.0)):
        example.features.feature[name].float_list.value.append(value)
    card = model.signatures["serving_default"](examples=tf.constant([example.SerializeToString()]))
    example.features.feature["payment_type"].bytes_list.value[0] = b"cash"
    cash = model.signatures["serving_default"](examples=tf.constant([example.SerializeToString()]))

    assert set(card) == {"tip_probability"}
    # Cash trips rarely record a tip: the model learnt the dataset, not a constant.
    assert float(card["tip_probability"][0, 0]) > float(cash["tip_probability"][0, 0]) + 0.2
