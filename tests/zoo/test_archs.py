"""The small 32-px architectures: registry, shapes, head path, feature width, seeded construction."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from estimators.errors import DuplicateRegistrationError
from zoo import archs
from zoo.errors import UnknownModelError

ALL = archs.list_archs()


def test_registry_lists_the_three_families() -> None:
    trio = ["cnn4", "mobilenet_tiny", "resnet8"]
    assert set(trio) <= set(ALL)
    assert len({archs.get_arch(a).feature_dim for a in trio}) == 3, "feature widths should differ"


@pytest.mark.parametrize("arch", ALL)
def test_forward_shape_and_head(arch: str) -> None:
    spec = archs.get_arch(arch)
    model = archs.build(arch, 7).eval()
    head = model.get_submodule(spec.head)
    assert isinstance(head, nn.Linear)
    assert (head.in_features, head.out_features) == (spec.feature_dim, 7)
    seen: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _m, a: seen.append(a[0]))
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    handle.remove()
    assert out.shape == (2, 7)
    assert seen[0].shape == (2, spec.feature_dim)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("arch", ALL)
def test_small_and_seeded(arch: str) -> None:
    torch.manual_seed(3)
    a = archs.build(arch, 10).state_dict()
    torch.manual_seed(3)
    b = archs.build(arch, 10).state_dict()
    torch.manual_seed(4)
    c = archs.build(arch, 10).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())
    params = sum(v.numel() for k, v in a.items() if "running" not in k and "num_batches" not in k)
    assert 10_000 < params < 200_000


def test_build_errors() -> None:
    with pytest.raises(UnknownModelError, match="cnn4"):
        archs.build("resnet50", 10)
    with pytest.raises(ValueError, match="num_classes"):
        archs.build("cnn4", 0)
    with pytest.raises(DuplicateRegistrationError):
        archs.register_arch("cnn4", head="fc", feature_dim=1)(archs.cnn4)
