"""Vision tower: a transformers CLIP or SigLIP vision model, run in chunks of frames.

Only the layers up to `select_layer` run (LongVA uses hidden_states[-2], the penultimate
layer), and no other hidden state is kept, so peak memory is one chunk's activations plus the
selected features of all frames. CLIP's CLS token is dropped (`select_feature="patch"`).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel, SiglipVisionConfig, SiglipVisionModel

from longva.model.config import VisionTowerConfig

_TOWERS = {
    "clip": (CLIPVisionConfig, CLIPVisionModel),
    "siglip": (SiglipVisionConfig, SiglipVisionModel),
}


def build_hf_vision_model(cfg: VisionTowerConfig) -> nn.Module:
    config_cls, model_cls = _TOWERS[cfg.type]
    hf_config = config_cls(**cfg.hf_config)
    hf_config._attn_implementation = "sdpa"
    return model_cls(hf_config)


class ChunkedTower(nn.Module):
    """Runs `features` over `chunk_size` frames at a time (bounds peak memory)."""

    def __init__(self, cfg: VisionTowerConfig):
        super().__init__()
        self.cfg = cfg

    @property
    def grid_side(self) -> int:
        return self.cfg.grid_side

    @property
    def hidden_size(self) -> int:
        return self.cfg.hidden_size

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def unused_modules(self) -> list[nn.Module]:
        """Modules whose output never reaches the features (kept frozen when the tower trains)."""
        return []

    def forward(self, pixel_values: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """(F, 3, S, S) -> (F, grid_side**2, D_vision)."""
        chunk = chunk_size or self.cfg.chunk_size
        dtype = next(self.parameters()).dtype
        outputs = [
            self.features(pixel_values[i : i + chunk].to(dtype)).to(pixel_values.dtype)
            for i in range(0, pixel_values.shape[0], chunk)
        ]
        return torch.cat(outputs, dim=0)


class VisionTower(ChunkedTower):
    """A transformers CLIP/SigLIP vision model up to `select_layer` (see the module docstring)."""

    def __init__(self, cfg: VisionTowerConfig, model: nn.Module | None = None):
        super().__init__(cfg)
        self.model = model if model is not None else build_hf_vision_model(cfg)
        n_layers = len(self.model.encoder.layers)
        # hidden_states[i] is the output of layer i (index 0 = embeddings): run exactly i layers.
        self.layers_used = cfg.select_layer if cfg.select_layer >= 0 else n_layers + 1 + cfg.select_layer
        self.has_cls = cfg.type == "clip"

    def unused_modules(self) -> list[nn.Module]:
        """Modules the forward never runs: layers after `select_layer`, post-norm, pooling head."""
        run = {"embeddings", "pre_layrnorm", "encoder"}  # what `features` calls
        unused = [m for name, m in self.model.named_children() if name not in run]
        return unused + list(self.model.encoder.layers[self.layers_used :])

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, patches, D_vision) at the selected layer."""
        hidden = self.model.embeddings(pixel_values)
        if hasattr(self.model, "pre_layrnorm"):  # CLIP normalises before the encoder
            hidden = self.model.pre_layrnorm(hidden)
        for layer in self.model.encoder.layers[: self.layers_used]:  # later layers never run
            out = layer(hidden, None)  # (hidden_states, attention_mask) in transformers 5
            hidden = out[0] if isinstance(out, tuple) else out
        if self.has_cls and self.cfg.select_feature == "patch":
            hidden = hidden[:, 1:]
        return hidden
