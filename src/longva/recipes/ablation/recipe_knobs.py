"""The knobs of the toy LongVA recipe and the phrases that name its stages (`KNOBS`,
`STAGE_QUALIFIERS`; `adapter.register` adds them to a registry).

Each knob names the config paths it sets; the stages a variant re-runs follow from those paths
(`longva.recipes.stage_inputs`, the declaration the stage cache keys on too). Phrase weights:
3 = names the knob on its own, 2 = strong hint, 1 = weak hint (see `longva.ablation.knobs`). The
value phrasings live in `phrasings.py`; the architecture knobs (tower, LM, visual position,
attention; below) and their phrasings in `phrasings.py`.
"""

from __future__ import annotations

from typing import Any

from longva.ablation.knobs import BoundKnob, CountScaling, Knob, StageQualifier, UnsupportedValue
from longva.ablation.target import ConfigView
from longva.errors import ConfigError
from longva.model.tower_presets import tower_like
from longva.recipes.ablation.visual_tokens import COUNT_RULE, near_square_count, tokens_per_frame
from longva.recipes.stage_inputs import TRAINING_STAGES
from longva.utils.dataclass_config import to_dict

# ---- VLM-architecture knobs ------------------------------------------------------------------
# The recipe's VLM-architecture knobs: vision-tower family, LM family, where the visual tokens
# sit in the prompt, and the attention mask (causal or prefix-LM). Each sets a `LongVAConfig`
# option (`longva.model`), so a variant trains and is evaluated with the real capability.
# 
# A family swap keeps the base's scale: `tower_like` keeps the image size, token grid and width
# (so tokens per frame and the projector input stay the base's; V0 pretrains any family
# contrastively), an LM family keeps the base's
# hf_config sizes and adds only what the family needs (Gemma's explicit head_dim).

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

# Stage qualifiers, checked in this order (first match wins): the long-context stage is named
# most specifically, the alignment words are the broadest.
STAGE_QUALIFIERS: tuple[StageQualifier, ...] = (
    ("s1_long", r"\blong[- ]?context\b|\bcontext (?:extension|extrapolation)\b|\bs1_long\b", None),
    ("s0_text", r"\btext[- ]only\b|\btext (?:pre-?training|training|stage)\b|\bs0_text\b", None),
    ("v0_vision", r"\b(?:vision|tower|encoder|contrastive|clip)[- ](?:tower |encoder )?pre-?train(?:ing|ed)?\b"
                  r"|\bcontrastive (?:training|stage)\b|\bv0_vision\b", None),
    ("s2_align", r"\balign(?:ment)?\b|\bs2_align\b", None),
    ("s2_align", r"\bfine[- ]?tun(?:e|ed|ing)\b|\binstruction[- ]tuning\b",
     "fine-tuning is this recipe's alignment stage s2_align"),
    ("s2_align", r"\bpre-?train(?:ing|ed)?\b",
     "the plan's pre-training is applied to this recipe's alignment stage s2_align"),
    ("eval", r"\b(?:inference|evaluation|eval|test[- ]time)\b", None),
)


def _base_tokens(view: ConfigView, bound: BoundKnob) -> int:
    return tokens_per_frame(view)


def _tower_training(params: dict[str, Any], base: ConfigView, bound: BoundKnob) -> dict[str, Any]:
    """Keep `tunable_parts` consistent with `frozen` (the trainer may read either)."""
    if "frozen" not in params or "tunable_parts" in params:
        return params
    parts = [p for p in base.get(bound.path("tunable_parts")) if p != "vision_tower"]
    if not params["frozen"]:
        parts.append("vision_tower")
    return {**params, "tunable_parts": parts}


def _projector(params: dict[str, Any], base: ConfigView, bound: BoundKnob) -> dict[str, Any]:
    """`identity` (also what REMOVE means) only works when the vision width equals the LM width."""
    if params.get("type") == "identity":
        model = base.config.model
        d_vision, d_lm = model.vision.hidden_size, model.lm.hf_config.get("hidden_size")
        if d_vision != d_lm:
            raise UnsupportedValue(f"projector 'identity' (no projector) needs the vision width ({d_vision}) to equal"
                                   f" the LM width ({d_lm}); use 'linear' or 'mlp2x_gelu'")
    return params


def _data_mix(params: dict[str, Any], base: ConfigView, bound: BoundKnob) -> dict[str, Any]:
    """Setting one of the two fractions sets the other to the complement (they sum to 1)."""
    pair = ("multi_grid", "single_grid")
    given = [k for k in pair if k in params]
    if len(given) != 1 or "data_mix" in params:
        return params
    value = params[given[0]]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise UnsupportedValue(f"{given[0]} must be a fraction in [0, 1], got {value!r}")
    other = pair[1 - pair.index(given[0])]
    return {**params, other: round(1.0 - float(value), 6)}


POOLING = Knob(
    id="vision.pooling",
    summary="spatial pooling of each grid's tokens after the projector: kind avg|max|none, kernel, stride",
    params={"kind": "model.pooling.kind", "kernel": "model.pooling.kernel", "stride": "model.pooling.stride",
            "padding": "model.pooling.padding"},
    patterns=[(r"\bpool(?:ing|ed)?\b", 3), (r"\b(?:token|spatial) (?:reduction|merging|downsampl\w*)\b", 2),
              (r"\bkernel\b", 1), (r"\bstride\b", 1)],
    aliases={"k": "kernel", "kernel size": "kernel", "pool size": "kernel", "pooling size": "kernel",
             "window": "kernel", "window size": "kernel", "s": "stride", "mode": "kind", "type": "kind"},
    scalar="kernel",
    kind="component",
    removable={"kind": "none"},
    addable={"kind": "avg"},
    examples=("max pooling", "average pooling", "average pooling with kernel size 3", "kernel=3,stride=2",
              "no pooling"),
)

VISUAL_TOKENS = Knob(
    id="vision.tokens_per_grid",
    summary="visual tokens per grid/frame/image (a target count: adaptive pooling below native, interpolation above)",
    params={"tokens": "model.pooling.tokens_per_grid"},
    patterns=[(r"\b(?:number|count|amount) of (?:image|visual|vision|video|frame) tokens\b", 3),
              (r"\b(?:image|visual|vision) tokens?\b", 2), (r"\btokens? per (?:image|frame|grid)\b", 3),
              (r"\b(?:image|visual|vision) token (?:sequence )?length\b", 3)],
    aliases={"tokens per grid": "tokens", "num tokens": "tokens", "n": "tokens"},
    scalar="tokens",
    units=("tokens", "token", "image tokens", "visual tokens"),
    examples=("256", "1024 tokens", "tokens=144"),
    equivalence="image tokens of the plan's model are applied as this recipe's visual tokens per grid"
                " (model.pooling.tokens_per_grid)",
    current=_base_tokens,
    relative_counts=CountScaling(near_square_count, COUNT_RULE),
)

PROJECTOR = Knob(
    id="model.projector",
    summary="vision-to-LM projector: linear, mlpNx_gelu, transformer, cross_attn, identity",
    params={"type": "model.projector.type", "num_layers": "model.projector.num_layers",
            "num_queries": "model.projector.num_queries", "num_heads": "model.projector.num_heads"},
    patterns=[(r"\bprojectors?\b", 3), (r"\bprojection (?:block|layer|module|head|network)s?\b", 3),
              (r"\bprojection\b", 2), (r"\bconnectors?\b", 3),
              (r"\b(?:vision|visual|modality)[- ]language adapter\b", 3),
              (r"\bmlp\b", 1)],
    aliases={"layers": "num_layers", "depth": "num_layers", "queries": "num_queries", "heads": "num_heads",
             "projector": "type"},
    kind="component",
    removable={"type": "identity"},
    examples=("linear", "2-layer MLP", "4-layer MLP", "Transformer layers", "Cross-attention layers", "identity"),
    derive=_projector,
)

VISION_TRAINING = Knob(
    id="vision.tower_training",
    summary="whether the vision tower is frozen or trained during alignment (s2_align)",
    params={"frozen": "model.vision.frozen", "tunable_parts": "stages.s2_align.tunable_parts",
            "vision_tower_lr": "stages.s2_align.vision_tower_lr"},
    patterns=[(r"\bfreez\w*|\bfrozen\b|\bunfreez\w*", 3),
              (r"\b(?:vision|visual|image) (?:tower|encoder|backbone)"
               r" (?:training|tuning|fine-?tuning|weights|updates)\b", 3),
              (r"\b(?:training|tuning|fine-?tuning) (?:of )?(?:the )?(?:vision|visual|image) (?:tower|encoder)\b", 3)],
    aliases={"lr": "vision_tower_lr"},
    kind="component",
    removable={"frozen": True},
    addable={"frozen": False},
    examples=("frozen", "unfrozen", "trainable"),
    derive=_tower_training,
)

ENCODING = Knob(
    id="vision.encoding",
    summary="image encoding scheme: unires | anyres, and the maximum number of grids per image",
    params={"scheme": "model.encoding.scheme", "max_grids": "model.encoding.max_grids"},
    patterns=[(r"\bunires\b", 2), (r"\banyres\b", 2), (r"\b(?:image|visual) encoding\b", 3),
              (r"\bencoding scheme\b", 3), (r"\bgrid (?:scheme|layout)\b", 3),
              (r"\b(?:number of|max(?:imum)?) grids\b", 3), (r"\bgrids?\b", 1)],
    aliases={"grids": "max_grids", "max grids": "max_grids"},
    scalar="max_grids",
    units=("grids", "grid"),
    kind="component",
    examples=("UniRes", "AnyRes", "UniRes with up to 16 grids", "max_grids=16"),
)

LR_SCHEDULE = Knob(
    id="train.lr_schedule",
    summary="learning-rate schedule of one training stage: constant, linear, cosine, exponential, step; warmup",
    params={p: f"stages.{{stage}}.lr_schedule.{p}"
            for p in ("kind", "warmup_steps", "min_lr_ratio", "final_lr_ratio", "milestones", "gamma")},
    patterns=[(r"\b(?:learning[- ]rate|lr) schedul\w*", 3), (r"\bschedul\w*", 2),
              (r"\b(?:learning[- ]rate|lr) (?:decay|warm-?up|annealing)\b", 3), (r"\bwarm-?up\b", 2)],
    aliases={"warmup": "warmup_steps", "schedule": "kind", "type": "kind"},
    kind="component",
    removable={"kind": "constant", "warmup_steps": 0},
    stages=TRAINING_STAGES,
    examples=("constant", "linear decay", "cosine annealing", "exponential decay", "step decay",
              "cosine with warmup", "warmup_steps=10"),
)

LR = Knob(
    id="train.lr",
    summary="peak learning rate of one training stage",
    params={"lr": "stages.{stage}.lr"},
    patterns=[(r"\b(?:peak |base |initial )?(?:learning[- ]rate|lr)\b", 3)],
    exclude=(r"schedul|decay|warm-?up|anneal",),
    aliases={"learning rate": "lr"},
    scalar="lr",
    stages=TRAINING_STAGES,
    examples=("1e-5", "2e-5", "lr=1e-4"),
)

STEPS = Knob(
    id="train.steps",
    summary="number of optimizer steps of one training stage",
    params={"steps": "stages.{stage}.steps"},
    patterns=[(r"\b(?:number of |training |optimi[sz]er )(?:training )?(?:steps|iterations)\b", 3),
              (r"\btraining (?:length|duration|budget)\b", 3)],
    scalar="steps",
    units=("steps", "iterations", "updates"),
    stages=TRAINING_STAGES,
    examples=("500", "1000 steps"),
)

BATCH = Knob(
    id="train.batch_size",
    summary="batch size of one training stage",
    params={"batch_size": "stages.{stage}.batch_size"},
    patterns=[(r"\bbatch[- ]?size\b", 3)],
    aliases={"batch": "batch_size", "bs": "batch_size"},
    scalar="batch_size",
    stages=TRAINING_STAGES,
    examples=("4", "batch_size=8"),
)

ROPE = Knob(
    id="lm.rope_theta",
    summary="RoPE base frequency (theta): the long-context stage s1_long by default, s0_text, or at evaluation",
    params={"theta": {"s0_text": "stages.s0_text.rope_theta", "s1_long": "stages.s1_long.rope_theta",
                      "eval": "eval.vniah.rope_theta"}},
    patterns=[(r"\brope\b", 3), (r"\brotary\b", 3), (r"\bposition(?:al)? (?:encoding|embedding)s? base\b", 3),
              (r"\bbase frequency\b", 3), (r"\btheta\b", 2)],
    aliases={"base": "theta", "rope theta": "theta", "θ": "theta"},
    scalar="theta",
    stages=("s0_text", "s1_long", "eval"),
    default_stage="s1_long",
    examples=("1e6", "1e8", "1e9", "theta=5e8"),
)

CONTEXT = Knob(
    id="lm.context_length",
    summary="training sequence length of an LM stage (the long-context stage s1_long by default)",
    params={"seq_len": "stages.{stage}.seq_len"},
    patterns=[(r"\bcontext (?:length|window|size)\b", 3), (r"\b(?:training )?sequence length\b", 3),
              (r"\bmax(?:imum)? (?:sequence|context) length\b", 3)],
    exclude=(r"\b(?:image|visual|vision) (?:token|sequence)",),
    aliases={"length": "seq_len", "context length": "seq_len", "sequence length": "seq_len"},
    scalar="seq_len",
    units=("tokens",),
    stages=("s0_text", "s1_long"),
    default_stage="s1_long",
    examples=("2048", "8K", "seq_len=4096"),
)

LONG_STAGE = Knob(
    id="train.long_context_stage",
    summary="the long-context LM training stage s1_long (run or skipped)",
    params={"enabled": "stages.s1_long.enabled"},
    patterns=[(r"\blong[- ]?context (?:training|stage|extension|continued pre-?training|transfer)\b", 3),
              (r"\bcontext (?:extension|extrapolation) (?:stage|training)\b", 3), (r"\bs1_long\b", 3)],
    kind="component",
    removable={"enabled": False},
    addable={"enabled": True},
    examples=("enabled=false",),
)

FRAMES = Knob(
    id="eval.frames",
    summary="video frames at evaluation (video QA proxy frames; V-NIAH haystack lengths as a list)",
    params={"frames": "eval.video_qa_proxy.frames", "vniah_frames": "eval.vniah.frames"},
    patterns=[(r"\b(?:number|count) of (?:input |video |sampled )?frames\b", 3), (r"\bframes?\b", 2),
              (r"\bvideo length\b", 2), (r"\bhaystack length\b", 3)],
    aliases={"num frames": "frames", "haystack": "vniah_frames"},
    scalar="frames",
    units=("frames", "frame"),
    examples=("32", "64 frames", "frames=128", "vniah_frames=[8, 16, 32]"),
)

DATA_MIX = Knob(
    id="data.align_mix",
    summary="alignment (s2_align) data mix: fractions of multi-grid images vs single-grid images/frames",
    params={"data_mix": "stages.s2_align.data_mix", "multi_grid": "stages.s2_align.data_mix.multi_grid",
            "single_grid": "stages.s2_align.data_mix.single_grid"},
    patterns=[(r"\bdata (?:mix|mixture|ratio|composition)\b", 3), (r"\b(?:multi|single)[- ]grid\b", 3),
              (r"\b(?:image|video)[- ](?:to[- ])?(?:text )?ratio\b", 2), (r"\balignment data\b", 3)],
    aliases={"multi": "multi_grid", "single": "single_grid", "mix": "data_mix"},
    examples=("single-grid only", "multi-grid only", "30% multi-grid", "multi_grid=0.3"),
    derive=_data_mix,
)

KNOBS = (POOLING, VISUAL_TOKENS, PROJECTOR, VISION_TOWER, VISION_TRAINING, ENCODING, LR_SCHEDULE, LR, STEPS,
         BATCH, ROPE, CONTEXT, LONG_STAGE, LM, FRAMES, DATA_MIX, VISUAL_POSITION, ATTENTION)
