"""FSDP2 (`fully_shard`) for a transformers model: one unit per decoder layer plus the root.

Each decoder layer is its own FSDP unit, so only one layer's full parameters are materialised at
a time; the root unit holds the rest (embeddings, final norm, LM head; a tied head stays in the
root with its embedding). Gradients are reduce-scattered and AVERAGED over the mesh, which the
trainer accounts for when it normalises by the global token count.
"""

from __future__ import annotations

import torch


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Modules whose class the model lists in `_no_split_modules` (its decoder layers)."""
    names: set[str] = set()
    for module in model.modules():
        names.update(getattr(module, "_no_split_modules", None) or [])
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:  # fall back to the usual `model.layers` ModuleList
        layers = [
            m for name, m in model.named_modules() if name.rsplit(".", 1)[-1].isdigit() and ".layers." in f".{name}"
        ]
    return layers


def apply_fsdp(
    model: torch.nn.Module, mesh, param_dtype: torch.dtype | None = None, reshard_after_forward: bool = True
):
    """Shard `model` in place with FSDP2 over a 1-D device mesh; returns it.

    `param_dtype` (e.g. bf16) makes FSDP cast the gathered parameters for compute while the
    sharded master weights and the gradient reduction stay fp32.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32 if param_dtype else None)
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh, reshard_after_forward=reshard_after_forward, mp_policy=policy)
    fully_shard(model, mesh=mesh, reshard_after_forward=reshard_after_forward, mp_policy=policy)
    return model


def is_fsdp(model: torch.nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)
