import itertools

import pytest
import torch

from longva.errors import ConfigError
from longva.model.config import PoolingConfig, ProjectorConfig
from longva.model.pooling import build_pooling, factor_near_square, pooled_grid_shape
from longva.model.projector import build_projector

PROJECTORS = ["linear", "mlp2x_gelu", "mlp4x_gelu", "transformer", "cross_attn", "identity"]
POOLINGS = [
    (PoolingConfig(kind="avg", kernel=2), (4, 4)),
    (PoolingConfig(kind="max", kernel=2), (4, 4)),
    (PoolingConfig(kind="avg", kernel=3), (2, 2)),  # stride follows kernel: floor((8-3)/3)+1
    (PoolingConfig(kind="avg", kernel=3, stride=2), (3, 3)),
    (PoolingConfig(kind="none"), (8, 8)),
    (PoolingConfig(tokens_per_grid=16), (4, 4)),  # adaptive pooling down
    (PoolingConfig(tokens_per_grid=8), (2, 4)),  # non-square: closest to square
    (PoolingConfig(tokens_per_grid=128), (8, 16)),  # interpolation up
]


@pytest.mark.parametrize("proj,pool", list(itertools.product(PROJECTORS, POOLINGS)))
def test_every_projector_with_every_pooling(proj, pool):
    pool_cfg, out_hw = pool
    d_in, d_out = (32, 32) if proj == "identity" else (24, 32)
    projector = build_projector(ProjectorConfig(type=proj, num_layers=1), d_in, d_out, native_tokens=64)
    pooling = build_pooling(pool_cfg)
    x = torch.randn(3, 64, d_in)  # 3 grids of 8x8 vision tokens
    y = projector(x)
    assert y.shape == (3, 64, d_out)  # cross_attn defaults to the native count: 64 queries
    z = pooling(y, (8, 8))
    assert z.shape == (3, out_hw[0] * out_hw[1], d_out)
    assert pooled_grid_shape((8, 8), pool_cfg) == out_hw


def test_mlp_layout_matches_llava_keys():
    mlp = build_projector(ProjectorConfig(type="mlp2x_gelu"), 8, 16, 4)
    assert sorted(mlp.state_dict()) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    mlp4 = build_projector(ProjectorConfig(type="mlp4x_gelu"), 8, 16, 4)
    assert sum(isinstance(m, torch.nn.Linear) for m in mlp4) == 4


@pytest.mark.parametrize("proj", ["transformer", "cross_attn"])
def test_attention_projectors_backpropagate(proj):
    projector = build_projector(ProjectorConfig(type=proj, num_layers=2, num_queries=5), 12, 16, native_tokens=9)
    x = torch.randn(2, 9, 12, requires_grad=True)
    y = projector(x)
    assert y.shape == (2, 5 if proj == "cross_attn" else 9, 16)
    y.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in projector.parameters() if p.requires_grad)


def test_identity_needs_equal_widths_and_unknown_projector_is_named():
    with pytest.raises(ConfigError, match="identity.*vision width \\(24\\).*LM width \\(32\\)"):
        build_projector(ProjectorConfig(type="identity"), 24, 32, 4)
    with pytest.raises(ConfigError, match="unknown projector 'mlp1x_gelu'"):
        build_projector(_raw("mlp1x_gelu"), 8, 8, 4)


def _raw(type_name):
    cfg = ProjectorConfig()
    object.__setattr__(cfg, "type", type_name)
    return cfg


def test_pooling_kernel_larger_than_grid_is_an_error():
    with pytest.raises(ConfigError, match="kernel: 5 is larger than the 4x4 token grid"):
        pooled_grid_shape((4, 4), PoolingConfig(kind="avg", kernel=5))


def test_pooling_arithmetic_for_24x24():
    assert [pooled_grid_shape((24, 24), PoolingConfig(kernel=k)) for k in (2, 3, 5)] == [(12, 12), (8, 8), (4, 4)]
    assert factor_near_square(256) == (16, 16) and factor_near_square(512) == (16, 32)
    assert factor_near_square(1536) == (32, 48) and factor_near_square(729) == (27, 27)


def test_max_pooling_picks_the_maximum():
    x = torch.arange(16.0).reshape(1, 16, 1)  # one 4x4 grid with values 0..15 row-major
    y = build_pooling(PoolingConfig(kind="max", kernel=2))(x, (4, 4))
    assert y.flatten().tolist() == [5.0, 7.0, 13.0, 15.0]
    y = build_pooling(PoolingConfig(kind="avg", kernel=2))(x, (4, 4))
    assert y.flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
