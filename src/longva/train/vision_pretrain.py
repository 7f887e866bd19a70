"""Contrastive (CLIP / SigLIP) pretraining of a vision tower on (image, caption) pairs.

LongVA starts from a pretrained CLIP; a tower built from a config starts random. This stage
gives such a tower what CLIP pretraining gives the real one: features that tell apart what
captions tell apart. It trains a transformers `CLIPModel` (or `SiglipModel`) whose vision side
has exactly the tower's config, with the model's own contrastive loss, then hands back the
vision model's state dict, which loads into `VisionTower.model` key for key. Other tower
families (ViT, DINOv2, ResNet, ConvNeXt, fused) take the place of CLIP's vision side with the
mean of their grid tokens as the image embedding (`TowerImageEncoder`).

    pixels (B, 3, S, S) --vision model--> (B, P) \\
                                                   -- similarity (B, B) -- contrastive loss
    caption ids (B, T) --text model-----> (B, P) /
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import CLIPConfig, CLIPModel, SiglipConfig, SiglipModel
from transformers.modeling_outputs import BaseModelOutputWithPooling

from longva.errors import ConfigError
from longva.model.config import VisionTowerConfig
from longva.model.vision_backbones import build_vision_tower
from longva.model.vision_tower import VisionTower
from longva.train.optim import make_param_groups
from longva.train.trainer import Trainer, TrainerConfig

_DUAL_MODELS = {"clip": (CLIPConfig, CLIPModel), "siglip": (SiglipConfig, SiglipModel)}


@dataclass
class TextTowerConfig:
    """The small text encoder that only exists to give the contrastive loss its other side."""

    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 1
    num_attention_heads: int = 2
    max_position_embeddings: int = 32
    projection_dim: int = 64

    def validate(self, where: str) -> None:
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "max_position_embeddings"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{where}.{name}: must be >= 1, got {getattr(self, name)}")


def build_dual_encoder(vision: VisionTowerConfig, text: TextTowerConfig, vocab_size: int, eos_id: int, pad_id: int):
    """A CLIPModel/SiglipModel whose vision model has the tower's exact config."""
    config_cls, model_cls = _DUAL_MODELS.get(vision.type, _DUAL_MODELS["clip"])
    text_cfg = dict(vocab_size=vocab_size, hidden_size=text.hidden_size, intermediate_size=text.intermediate_size,
                    num_hidden_layers=text.num_hidden_layers, num_attention_heads=text.num_attention_heads,
                    max_position_embeddings=text.max_position_embeddings, eos_token_id=eos_id,
                    pad_token_id=pad_id, bos_token_id=None)
    kwargs = {"projection_dim": text.projection_dim} if vision.type != "siglip" else {}
    generic = vision.type not in _DUAL_MODELS
    # any other tower replaces CLIP's vision side; CLIP's own is built as small as possible first
    vision_cfg = _placeholder_vision(vision) if generic else dict(vision.hf_config)
    config = config_cls(text_config=text_cfg, vision_config=vision_cfg, **kwargs)
    if vision.type == "siglip":
        config.text_config.projection_size = config.vision_config.hidden_size
    config._attn_implementation = "sdpa"
    model = model_cls(config)
    if generic:
        model.vision_model = TowerImageEncoder(vision)  # visual_projection already reads its width
    return model


def _placeholder_vision(vision: VisionTowerConfig) -> dict:
    return dict(hidden_size=vision.hidden_size, intermediate_size=8, num_hidden_layers=1, num_attention_heads=1,
                image_size=vision.image_size, patch_size=vision.image_size)


class TowerImageEncoder(nn.Module):
    """Any LongVA tower (ViT, DINOv2, ResNet, ConvNeXt, fused) as a CLIP vision side: the image
    embedding is the mean of its grid tokens (what `CLIPModel` projects and compares)."""

    def __init__(self, vision: VisionTowerConfig):
        super().__init__()
        self.tower = build_vision_tower(vision)

    def forward(self, pixel_values: torch.Tensor, **_) -> BaseModelOutputWithPooling:
        tokens = self.tower(pixel_values)  # (B, g*g, D)
        return BaseModelOutputWithPooling(last_hidden_state=tokens, pooler_output=tokens.mean(1))


def contrastive_loss_fn(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The trainer's loss callable: (mean contrastive loss x B, B)."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                pixel_values=batch["pixel_values"], return_loss=True)
    n = torch.tensor(batch["pixel_values"].shape[0])
    return out.loss * n, n


def contrastive_trainer(model, batches, train: TrainerConfig, run_config: dict) -> Trainer:
    """THE vision pretraining trainer (the recipe's V0): the dual encoder, AdamW groups from
    `train.optimizer`, the model's own contrastive loss."""
    opt = train.optimizer
    groups = make_param_groups(model.named_parameters(), opt.lr, opt.weight_decay, opt.lr_by_prefix)
    return Trainer(model, contrastive_loss_fn, batches, groups, train, run_config=run_config)


def tower_state_dict(dual_encoder) -> dict[str, torch.Tensor]:
    """The vision model's weights: keyed as `VisionTower.model` expects them (CLIP/SigLIP), or as
    the whole tower module does (any other family; `load_tower_weights` knows which)."""
    vision = dual_encoder.vision_model
    state = vision.tower.state_dict() if isinstance(vision, TowerImageEncoder) else vision.state_dict()
    return {k: v.detach().clone().contiguous() for k, v in state.items()}


def load_tower_weights(tower: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Load `tower_state_dict` output into a LongVA model's `vision_tower`."""
    target = tower.model if isinstance(tower, VisionTower) else tower
    target.load_state_dict(weights)


@torch.no_grad()
def caption_retrieval_accuracy(dual_encoder, batch: dict) -> float:
    """Share of images whose most similar caption in the batch is one with the same text."""
    dual_encoder.eval()
    out = dual_encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       pixel_values=batch["pixel_values"])
    best = out.logits_per_image.argmax(dim=1)  # (B,)
    same = (batch["input_ids"][best] == batch["input_ids"]).all(dim=1)
    return float(same.float().mean())
