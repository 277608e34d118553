"""The in-process pipeline decodes each image once for uncached models that share a preprocessing config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.pipeline.run import rank
from service.settings import Settings
from tests.support.service import EntryFactory
from zoo.datasets import Dataset
from zoo.store import FeatureStore


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    decoded: list[int] = []
    load = Dataset.load_image

    def counting(self: Dataset, i: int) -> Image.Image:
        decoded.append(i)
        return load(self, i)

    monkeypatch.setattr(Dataset, "load_image", counting)
    return decoded


def test_models_sharing_preprocessing_are_decoded_once_with_identical_results(
    dataset: Path,
    settings: Settings,
    tiny_entry: EntryFactory,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    models = [
        tiny_entry("shared.a", seed=1),
        tiny_entry("shared.b", seed=2, head=False),
        tiny_entry("shared.c", seed=3),
    ]
    separate_settings = settings.with_overrides(feature_store_dir=tmp_path / "separate-store")
    # one model per call: each extraction decodes the sample itself (the reference result)
    separate = {
        e.id: rank(str(dataset), models=[e], scorers=["logme"], settings=separate_settings).models[0]
        for e in models
    }
    decoded = _count_decodes(monkeypatch)
    together = rank(str(dataset), models=models, scorers=["logme"], settings=settings)
    assert sorted(decoded) == list(range(together.dataset.num_samples))  # 24 images, decoded once
    assert FeatureStore(settings.store_dir).keys() == FeatureStore(separate_settings.store_dir).keys()
    for m in together.models:
        assert not m.cached and m.error is None
        # the same batches through the same arithmetic: the same features, hence the same score
        assert m.scores["logme"] == separate[m.id].scores["logme"]
        assert (
            m.feature_dim == separate[m.id].feature_dim
            and m.has_source_head == separate[m.id].has_source_head
        )
    decoded.clear()
    again = rank(str(dataset), models=models, scorers=["logme"], settings=settings)
    assert decoded == [] and all(m.cached for m in again.models)


def test_a_broken_model_in_a_shared_group_is_recorded_alone(
    dataset: Path, settings: Settings, tiny_entry: EntryFactory
) -> None:
    good = tiny_entry("shared.good", seed=1)
    tampered = tiny_entry("shared.tampered", seed=2, sha256="0" * 64)
    other = tiny_entry("shared.other", seed=3)
    ranking = rank(str(dataset), models=[good, tampered, other], scorers=["logme"], settings=settings)
    rows = {m.id: m for m in ranking.models}
    assert (
        rows["shared.tampered"].error is not None
        and rows["shared.tampered"].error.code == "weights-integrity"
    )
    assert np.isfinite(rows["shared.good"].scores["logme"]) and np.isfinite(
        rows["shared.other"].scores["logme"]
    )


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="the machine has a GPU")
def test_rank_refuses_a_missing_gpu_before_any_model(
    dataset: Path, settings: Settings, tiny_entry: EntryFactory
) -> None:
    from zoo.features import DeviceUnavailableError

    with pytest.raises(DeviceUnavailableError):
        rank(
            str(dataset),
            models=[tiny_entry("gpu.a")],
            scorers=["logme"],
            settings=settings.with_overrides(device="cuda"),
        )
