"""Change the RoPE base (theta) of a transformers LM: the long-context lever of LongVA.

Raising theta (1e6 -> 1e9 for Qwen2-7B-224K) slows the rotation of every frequency, so distant
positions stay distinguishable (Xiong et al. 2023). In transformers 5 the base lives in
`config.rope_parameters["rope_theta"]`, and the rotary module turns it into `inv_freq` ONCE at
construction; `inv_freq` is a non-persistent buffer (not in the state dict). Editing the config of
a built model therefore changes nothing: the rotary modules must be rebuilt from the new config.
"""

from __future__ import annotations

import copy

import torch

from longva.errors import ConfigError


def get_rope_theta(config) -> float:
    params = getattr(config, "rope_parameters", None) or {}
    if "rope_theta" not in params:
        raise ConfigError(
            f"model config {type(config).__name__} has no rope_parameters['rope_theta']; expected a RoPE LM config"
        )
    return float(params["rope_theta"])


def _set_config_theta(config, theta: float) -> None:
    if theta <= 0:
        raise ConfigError(f"rope_theta: must be > 0, got {theta}")
    get_rope_theta(config)  # validates that the model uses RoPE
    config.rope_parameters = {**config.rope_parameters, "rope_theta": float(theta)}


def _rotary_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """Modules holding an `inv_freq` buffer (one per LM in transformers 5)."""
    return [(name, m) for name, m in model.named_modules() if "inv_freq" in dict(m.named_buffers(recurse=False))]


def _rebuild_rotary(model: torch.nn.Module) -> None:
    """Replace every rotary module by a fresh one built from its (updated) config."""
    for name, module in _rotary_modules(model):
        device = module.inv_freq.device if module.inv_freq.device.type != "meta" else torch.device("cpu")
        fresh = type(module)(config=module.config).to(device)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, fresh)


def set_rope_theta(model: torch.nn.Module, theta: float) -> torch.nn.Module:
    """Change the RoPE base of `model` in place (weights untouched); returns `model`."""
    _set_config_theta(model.config, theta)
    if not _rotary_modules(model):
        raise ConfigError(f"{type(model).__name__} has no rotary embedding module (no inv_freq buffer) to rebuild")
    _rebuild_rotary(model)
    return model


def with_rope_theta(model: torch.nn.Module, theta: float) -> torch.nn.Module:
    """A new model of the same class, built from a copy of the config with base `theta`.

    The weights are copied (the original model is left as it was). The new model is built on the
    meta device and the copies are assigned, so no time is spent on a random init.
    """
    config = copy.deepcopy(model.config)
    _set_config_theta(config, theta)
    with torch.device("meta"):
        new = type(model)(config)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    new.load_state_dict(state, strict=True, assign=True)
    _retie_shared(model, new)
    _rebuild_rotary(new)
    _copy_theta_free_buffers(model, new)
    leftover = [n for n, t in [*new.named_parameters(), *new.named_buffers()] if t.device.type == "meta"]
    if leftover:
        raise ConfigError(
            f"with_rope_theta: cannot rebuild non-persistent tensors {leftover[:3]} of {type(model).__name__}"
        )
    new.train(model.training)
    return new


def _copy_theta_free_buffers(old: torch.nn.Module, new: torch.nn.Module) -> None:
    """Non-persistent buffers left on meta after the rotary rebuild do not depend on the RoPE base
    (e.g. Gemma's `embed_scale` = sqrt(hidden)): copy them from the old model."""
    for name, buffer in list(new.named_buffers()):
        if buffer.device.type != "meta":
            continue
        module_name, _, attr = name.rpartition(".")
        target = new.get_submodule(module_name) if module_name else new
        target._buffers[attr] = old.get_buffer(name).detach().clone()


def _retie_shared(old: torch.nn.Module, new: torch.nn.Module) -> None:
    """Re-share parameters that were one tensor in `old` (tied embeddings / LM head)."""
    first_owner: dict[int, str] = {}
    for name, param in old.named_parameters(remove_duplicate=False):
        key = id(param)
        if key not in first_owner:
            first_owner[key] = name
            continue
        module_name, _, attr = name.rpartition(".")
        target = new.get_submodule(module_name) if module_name else new
        setattr(target, attr, new.get_parameter(first_owner[key]))
