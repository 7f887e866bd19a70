"""LR schedules: values at the first, middle and last step, warmup, registry, exact resume."""

import math

import pytest
import torch

from longva.errors import ConfigError
from longva.train import schedules
from longva.train.schedules import (
    LRScheduleConfig,
    build_lr_scheduler,
    factor_fn,
    known_schedules,
    register_schedule,
)
from longva.utils.dataclass_config import from_dict

TOTAL = 101  # steps 0..100: the middle step is 50


def _values(cfg, total=TOTAL, base_lr=1.0):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    sched = build_lr_scheduler(opt, cfg, total)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_constant_is_default():
    lrs = _values(LRScheduleConfig())
    assert lrs[0] == lrs[50] == lrs[100] == 1.0


def test_linear_decays_to_final_ratio():
    lrs = _values(LRScheduleConfig(kind="linear"))
    assert lrs[0] == 1.0 and lrs[50] == pytest.approx(0.5) and lrs[100] == pytest.approx(0.0)
    lrs = _values(LRScheduleConfig(kind="linear", final_lr_ratio=0.2))
    assert lrs[50] == pytest.approx(0.6) and lrs[100] == pytest.approx(0.2)


def test_cosine_anneals_to_min_ratio():
    lrs = _values(LRScheduleConfig(kind="cosine", min_lr_ratio=0.1))
    assert lrs[0] == pytest.approx(1.0) and lrs[50] == pytest.approx(0.55) and lrs[100] == pytest.approx(0.1)
    assert lrs[25] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))


def test_exponential_default_ratio_and_gamma():
    lrs = _values(LRScheduleConfig(kind="exponential"))
    gamma = 0.1 ** (1 / 100)
    assert lrs[0] == pytest.approx(1.0) and lrs[100] == pytest.approx(0.1)
    assert lrs[50] == pytest.approx(gamma**50) and lrs[50] == pytest.approx(math.sqrt(0.1))


def test_step_milestones_are_fractions_of_total():
    lrs = _values(LRScheduleConfig(kind="step"), total=100)
    assert lrs[0] == 1.0 and lrs[49] == 1.0
    assert lrs[50] == pytest.approx(0.1) and lrs[74] == pytest.approx(0.1)
    assert lrs[75] == pytest.approx(0.01) and lrs[99] == pytest.approx(0.01)


def test_warmup_then_decay():
    cfg = LRScheduleConfig(kind="linear", warmup_steps=10)
    lrs = _values(cfg, total=111, base_lr=2.0)
    assert lrs[0] == pytest.approx(0.2) and lrs[4] == pytest.approx(1.0) and lrs[9] == pytest.approx(2.0)
    assert lrs[10] == pytest.approx(2.0) and lrs[60] == pytest.approx(1.0) and lrs[110] == pytest.approx(0.0)
    f = factor_fn(LRScheduleConfig(kind="constant", warmup_steps=4), 10)
    assert [f(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_param_groups_keep_their_own_lr():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.1}], lr=1.0)
    sched = build_lr_scheduler(opt, LRScheduleConfig(kind="linear"), 3)
    opt.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 0.05])


def test_state_dict_resumes_exactly():
    cfg = LRScheduleConfig(kind="cosine", warmup_steps=3)
    full = _values(cfg, total=20)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_lr_scheduler(opt, cfg, 20)
    for _ in range(7):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = build_lr_scheduler(opt2, cfg, 20)
    sched2.load_state_dict(state)
    rest = []
    for _ in range(13):
        rest.append(opt2.param_groups[0]["lr"])
        opt2.step()
        sched2.step()
    assert rest == full[7:]


def test_unknown_kind_is_one_line_config_error():
    with pytest.raises(ConfigError) as e:
        from_dict(LRScheduleConfig, {"kind": "cosin"})
    msg = str(e.value)
    assert "\n" not in msg and "cosin" in msg
    for kind in ("constant", "linear", "cosine", "exponential", "step"):
        assert kind in msg


def test_plugin_can_register_a_schedule():
    @register_schedule("half")
    def _half(cfg, span):
        return lambda s: 0.5

    try:
        assert "half" in known_schedules()
        assert _values(LRScheduleConfig(kind="half"), total=3) == [0.5, 0.5, 0.5]
    finally:
        schedules._SCHEDULES.pop("half")  # keep the registry as other tests expect it
