"""The in-process pipeline decodes each image once for uncached models that share a preprocessing config."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import zoo
from service.pipeline.extract import group_by_preprocessing, preprocessing_group
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


def test_a_group_over_the_parameter_cap_is_extracted_in_chunks_each_decoding_once(
    dataset: Path, settings: Settings, tiny_entry: EntryFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four models of about 0.37 MiB of parameters each under a 1 MiB cap: two chunks of two, so each
    image is decoded twice (once per chunk), and every model is still extracted and scored."""
    capped = settings.with_overrides(shared_decode_mib=1)
    # a first ranking checks the sample for corrupt images (remembered): only extraction decodes below
    rank(str(dataset), models=[tiny_entry("chunk.warm")], scorers=["hscore"], settings=capped)
    models = [tiny_entry(f"chunk.{i}", seed=i, dim=3000) for i in range(4)]
    decoded = _count_decodes(monkeypatch)
    ranking = rank(str(dataset), models=models, scorers=["hscore"], settings=capped)
    assert set(Counter(decoded).values()) == {2} and len(set(decoded)) == ranking.dataset.num_samples
    assert all(m.error is None and not m.cached for m in ranking.models)


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


@given(st.lists(st.integers(0, 3), max_size=24), st.integers(1, 5))
def test_grouping_by_preprocessing_is_an_ordered_partition_into_the_fewest_groups(
    configs: list[int], max_size: int
) -> None:
    """Model i gets preprocessing config ``configs[i]``: the groups hold every model once, one config per
    group, in request order, at most ``max_size`` each, and no more groups than the size limit forces."""
    base = zoo.get_entry("cnn4.glyphs")
    entries = [
        replace(base, id=f"m{i}", preprocessing=replace(base.preprocessing, input_size=16 + c))
        for i, c in enumerate(configs)
    ]
    groups = group_by_preprocessing(entries, max_size)
    assert sorted(e.id for g in groups for e in g) == sorted(e.id for e in entries)
    for group in groups:
        assert 1 <= len(group) <= max_size
        assert len({preprocessing_group(e) for e in group}) == 1
        order = [int(e.id[1:]) for e in group]
        assert order == sorted(order)
    assert len(groups) == sum(math.ceil(n / max_size) for n in Counter(configs).values())
    assert group_by_preprocessing(entries, max_size) == groups  # the same list, the same grouping


def test_grouping_refuses_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="max_size"):
        group_by_preprocessing([], 0)
