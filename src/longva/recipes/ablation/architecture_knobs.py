"""The recipe's VLM-architecture knobs: vision-tower family, LM family, where the visual tokens
sit in the prompt, and the attention mask (causal or prefix-LM). Each sets a `LongVAConfig`
option (`longva.model`), so a variant trains and is evaluated with the real capability.

A family swap keeps the base's scale: `tower_like` keeps the image size, token grid and width
(so tokens per frame and the projector input stay the base's; V0 pretrains any family
contrastively), an LM family keeps the base's
hf_config sizes and adds only what the family needs (Gemma's explicit head_dim).
"""

from __future__ import annotations

from typing import Any

from longva.ablation.knobs import BoundKnob, Knob, UnsupportedValue
from longva.ablation.target import ConfigView
from longva.errors import ConfigError
from longva.model.tower_presets import tower_like
from longva.utils.dataclass_config import to_dict


def _tower_family(params: dict[str, Any], base: ConfigView, bound: BoundKnob) -> dict[str, Any]:
    """The whole tower section at once (a fused tower's parts must arrive with its type)."""
    family = params.get("type")
    current = base.config.model.vision
    if family is None or family == current.type:
        return params
    try:
        tower = tower_like(family, current, tuple(params.get("parts") or ("dinov2", "siglip")))
    except ConfigError as e:
        raise UnsupportedValue(str(e)) from None
    out = {k: v for k, v in params.items() if k not in ("type", "parts")}
    out["model.vision"] = to_dict(tower)
    return out


def _lm_family(params: dict[str, Any], base: ConfigView, bound: BoundKnob) -> dict[str, Any]:
    """Gemma's head_dim defaults to 256 whatever the width: give it the base's head size."""
    if params.get("model_type") != "gemma":
        return params
    hf = base.config.model.lm.hf_config
    hidden = int(params.get("hidden_size") or hf.get("hidden_size", 0))
    heads = int(hf.get("num_attention_heads", 1))
    return {**params, "model.lm.hf_config": {**hf, "head_dim": hidden // heads}}


VISION_TOWER = Knob(
    id="vision.tower",
    summary="vision encoder family: clip | siglip | vit | dinov2 | resnet | convnext | fused (DINOv2+SigLIP),"
            " at the base's image size, grid and width",
    params={"type": "model.vision.type", "parts": "model.vision.parts"},
    patterns=[(r"\b(?:vision|visual|image) (?:tower|encoder|backbone)s?\b", 3), (r"\bclip\b", 2),
              (r"\bsiglip\b", 2), (r"\bvit\b", 1), (r"\bdino\w*\b", 2), (r"\bresnet\w*\b", 2),
              (r"\bconvnext\w*\b", 2)],
    exclude=(r"\b(?:freez\w*|frozen|unfreez\w*|trainab\w*|training|tuning|fine-?tun\w*)\b",),
    aliases={"encoder": "type", "tower": "type", "family": "type"},
    kind="component",
    examples=("CLIP", "SigLIP", "ViT-B/16", "DINOv2", "ResNet-50 backbone", "ConvNeXt", "DINO-SigLIP fused"),
    derive=_tower_family,
)

LM = Knob(
    id="lm.backbone",
    summary="language model family (qwen2 | llama | mistral | gemma; Vicuna and LLaMA-2 are llama) and size"
            " (hidden_size, num_layers, intermediate_size)",
    params={"model_type": "model.lm.model_type", "hidden_size": "model.lm.hf_config.hidden_size",
            "num_layers": "model.lm.hf_config.num_hidden_layers",
            "intermediate_size": "model.lm.hf_config.intermediate_size"},
    patterns=[(r"\b(?:language model|llm|lm)\b", 2), (r"\b(?:llm|lm|language model) (?:backbone|family|size)\b", 3),
              (r"\bbackbone (?:llm|lm|language model)\b", 3), (r"\bqwen\w*\b", 2), (r"\bllama\w*\b", 2),
              (r"\bmistral\b", 2), (r"\bgemma\w*\b", 2), (r"\bvicuna\b", 2), (r"\bmodel size\b", 2)],
    aliases={"layers": "num_layers", "num hidden layers": "num_layers", "hidden": "hidden_size",
             "width": "hidden_size", "family": "model_type", "type": "model_type"},
    kind="component",
    examples=("Qwen2", "Llama", "LLaMA-2", "Vicuna-7B", "Mistral 7B", "Gemma", "hidden_size=128", "4 layers"),
    derive=_lm_family,
)

VISUAL_POSITION = Knob(
    id="prompt.visual_position",
    summary="where the visual tokens sit in the user turn: before_text | after_text | interleaved"
            " (one frame/grid at a time, each after a short text marker)",
    params={"position": "model.visual_position", "marker": "model.frame_marker"},
    patterns=[(r"\b(?:position(?:ing)?|placement|location|order(?:ing)?) of (?:the )?(?:image|visual|video|vision)"
               r" (?:tokens|features|embeddings|inputs)\b", 3),
              (r"\brelative to (?:the )?(?:text|question|prompt)\b", 2),
              (r"\b(?:image|visual|video|vision)[- ]tokens? (?:position|placement|order(?:ing)?|location)\b", 3),
              (r"\b(?:image|visual|video)[- ]text (?:order(?:ing)?|interleav\w*|placement)\b", 3),
              (r"\b(?:token|input|prompt|modality) (?:order(?:ing)?|placement|layout)\b", 3),
              (r"\binterleav\w*\b", 2), (r"\bplacement\b", 1)],
    aliases={"place": "position", "order": "position", "frame marker": "marker"},
    examples=("image tokens first", "text first", "interleaved", "position=after_text"),
)

ATTENTION = Knob(
    id="lm.attention_mask",
    summary="attention over the visual tokens: causal (LongVA) | prefix_lm (bidirectional among each"
            " image/video's tokens, text causal)",
    params={"mode": "model.attention"},
    patterns=[(r"\bprefix[- ]?lm\b", 3), (r"\battention (?:mask(?:ing)?|pattern|type)\b", 3),
              (r"\bbidirectional attention\b", 3), (r"\bcausal (?:attention|mask\w*)\b", 3)],
    aliases={"attention": "mode", "mask": "mode"},
    kind="component",
    removable={"mode": "causal"},
    addable={"mode": "prefix_lm"},
    examples=("PrefixLM", "bidirectional attention over image tokens", "causal"),
)
