"""Three hand-written impressions, transformed, trained on and exported once per session."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from pipeline.config import load_config


def creative_png(colour: tuple[int, int, int], size: int = 64) -> bytes:
    """A plain 64x64 RGB creative with a white square, as PNG bytes."""
    pixels = np.full((size, size, 3), colour, dtype=np.uint8)
    pixels[size // 4: size // 2, size // 4: size // 2] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def three_impressions() -> list[dict]:
    """Three impressions of the default ad-click dataset, one of them a click."""
    common = {"campaign": "c-17", "site": "news.example", "region": "eu-west"}
    return [
        {**common, "impression_id": "imp-1", "timestamp": "2026-10-01T08:00:00Z",
         "ad_id": "ad-1", "advertiser": "acme", "ad_category": "travel", "slot_position": "top",
         "device_type": "mobile", "user_age_bucket": "25-34", "hour": 8,
         "user_prior_clicks": 0, "bid_price": 0.4, "ad_title": "Cheap flights to Lisbon!",
         "creative": creative_png((200, 30, 30)), "clicked": 1},
        {**common, "impression_id": "imp-2", "timestamp": "2026-10-01T13:30:00Z",
         "ad_id": "ad-2", "advertiser": "globex", "ad_category": "finance",
         "slot_position": "sidebar", "device_type": "desktop", "user_age_bucket": "45-54",
         "hour": 13, "user_prior_clicks": 3, "bid_price": 1.25,
         "ad_title": "Low fees, high returns", "creative": creative_png((20, 90, 200)),
         "clicked": 0},
        {**common, "impression_id": "imp-3", "timestamp": "2026-10-01T22:10:00Z",
         "ad_id": "ad-3", "advertiser": "initech", "ad_category": "games",
         "slot_position": "bottom", "device_type": "tablet", "user_age_bucket": "18-24",
         "hour": 22, "user_prior_clicks": 1, "bid_price": 0.9,
         "ad_title": "Play the new quest now", "creative": creative_png((30, 160, 60)),
         "clicked": 0},
    ]


@pytest.fixture(scope="session")
def registry():
    return load_config().registry()


@pytest.fixture(scope="session")
def rows():
    return three_impressions()


@pytest.fixture(scope="session")
def transformed(tmp_path_factory, registry, rows):
    """The three rows through the real TF Transform, as both the train and the eval split."""
    from trainer import local

    out = tmp_path_factory.mktemp("transform")
    raw = local.write_examples(rows, registry, os.path.join(out, "raw.tfrecord"))
    return local.transform(raw, raw, registry, str(out))


@pytest.fixture(scope="session")
def tf_transform_output(transformed):
    import tensorflow_transform as tft

    return tft.TFTransformOutput(transformed.transform_output)


@pytest.fixture(scope="session")
def settings():
    from trainer.settings import TrainingSettings

    return TrainingSettings(epochs=2, batch_size=2, embedding_dim=4, hidden_units=(8,))


@pytest.fixture(scope="session")
def trained_model(transformed, tf_transform_output, registry, settings):
    from trainer.train import train

    return train(transformed.train_files, transformed.eval_files, tf_transform_output, registry,
                 settings)


@pytest.fixture(scope="session")
def exported_dir(tmp_path_factory, trained_model, tf_transform_output, registry):
    from trainer.export import export_serving_model

    path = str(tmp_path_factory.mktemp("serving") / "model")
    export_serving_model(trained_model, tf_transform_output, registry, path)
    return path
