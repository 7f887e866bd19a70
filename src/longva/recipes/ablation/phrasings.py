"""Value phrasings of the LongVA knobs (`RECOGNISERS`, registered in order by `adapter.register`;
the generic recognisers of `longva.ablation.knobs` run after them).

Every recogniser reads `item.text` (lowercase, markers stripped) and returns param overrides
with notes that state the defaults it chose, so the compile table shows exactly what runs.
"""

from __future__ import annotations

import re

from longva.ablation.items import Item
from longva.ablation.knobs import Context, Recogniser, Resolution, UnsupportedValue
from longva.recipes.ablation.visual_tokens import tokens_per_frame
from longva.train.schedules import known_schedules

# ---- vision.pooling ---------------------------------------------------------------------------

_POOL_FILLER = {"pooling", "pool", "pooled", "with", "a", "an", "the", "size", "kernel", "and", "of", "spatial",
                "2d", "stride", "window", "operator", "operation", "instead", "per", "grid", "frame", "=", ":"}
_POOL_KIND = (("max", r"\bmax(?:imum)?\b|\bmax-?pool"), ("avg", r"\b(?:average|avg|mean)\b|\bavg-?pool"))
_KERNEL = (r"\b(\d+)\s*[x×]\s*(\d+)\b", r"\b(?:kernel|window|pool(?:ing)?)(?:\s+size)?\s*(?:of|=|:)?\s*(\d+)",
           r"\bsize\s*(?:of|=|:)?\s*(\d+)")
_STRIDE = r"\bstride\s*(?:of|=|:)?\s*(\d+)"


def pooling_phrase(item: Item, ctx: Context) -> Resolution | None:
    text = item.text
    if re.search(r"\b(?:attention|attentive|learned|learnable|gated|perceiver)\b", text) and "pool" in text:
        raise UnsupportedValue("attention/learned pooling needs a trained pooling module this recipe does not"
                               " have; known: avg, max, none (kernel, stride) or a token count per grid")
    if item.number is not None and item.unit is None:  # a bare kernel size
        return _with_kernel({}, int(item.number), None, ctx, "pooling.kernel_number")
    kind = next((k for k, pattern in _POOL_KIND if re.search(pattern, text)), None)
    kernel = _kernel(text)
    stride_m = re.search(_STRIDE, text)
    if not _only_pooling_words(text) or (kind is None and kernel is None and stride_m is None):
        return None
    params = {"kind": kind} if kind else {}
    if kernel is None:
        if stride_m:
            params["stride"] = int(stride_m.group(1))
        return Resolution(params, "pooling.phrase", notes=_inherit_note(params, ctx))
    return _with_kernel(params, kernel, int(stride_m.group(1)) if stride_m else None, ctx, "pooling.phrase")


def _kernel(text: str) -> int | None:
    for pattern in _KERNEL:
        if m := re.search(pattern, text):
            if m.lastindex == 2 and m.group(1) != m.group(2):
                raise UnsupportedValue(f"non-square pooling window {m.group(0)!r}; this recipe pools with square"
                                       " kernels")
            return int(m.group(1))
    return None


def _only_pooling_words(text: str) -> bool:
    """Every word is a pooling word or a number, so phrases like 'global average pooling' stay unresolved."""
    words = re.findall(r"[a-z]+(?:-[a-z]+)*|\d+|[=:]", text)
    kind_words = {"max", "maximum", "average", "avg", "mean", "max-pooling", "maxpool", "avgpool", "avg-pooling",
                  "x", "×"}
    return all(w in _POOL_FILLER or w in kind_words or w.isdigit() for w in words)


def _with_kernel(params: dict, kernel: int, stride: int | None, ctx: Context, name: str) -> Resolution:
    """A kernel size means stride = kernel (PyTorch's `avg_pool2d(x, k)`), unless a stride is given."""
    chosen = {"kernel": kernel, "stride": kernel if stride is None else stride}
    note = f"policy stride_follows_kernel: kernel {kernel}, stride {chosen['stride']}"
    return Resolution({**params, **chosen}, name, notes=[note])


def _inherit_note(params: dict, ctx: Context) -> list[str]:
    kernel, stride = ctx.base_value("kernel"), ctx.base_value("stride")
    return [f"kernel {kernel} and stride {stride or kernel} kept from the base"]


# ---- train.lr_schedule ------------------------------------------------------------------------

_SCHEDULES = (
    (r"(?:constant|fixed|flat|no decay)(?: (?:lr|learning[- ]rate|schedule))?", {"kind": "constant"}),
    (r"linear(?:ly)?(?: (?:decay|decaying|annealing|schedule))?", {"kind": "linear", "final_lr_ratio": 0.0}),
    (r"cosine(?: (?:annealing|decay|schedule))?", {"kind": "cosine", "min_lr_ratio": 0.0}),
    (r"exponential(?:ly)?(?: (?:decay|decaying|schedule))?", {"kind": "exponential", "final_lr_ratio": 0.1}),
    (r"(?:multi-?)?step(?: (?:decay|schedule|lr))?", {"kind": "step", "milestones": [0.5, 0.75], "gamma": 0.1}),
)
_UNSUPPORTED_SCHEDULES = (r"\b(?:wsd|warmup[- ]stable[- ]decay|inverse[- ]sqrt|inverse square root|polynomial|"
                          r"cyclic(?:al)?|one[- ]?cycle|plateau|triangular)\b")
_WARMUP_BEFORE = re.compile(r"^(?:linear )?warm-?up (?:\+|and|then|followed by|with) (?P<rest>.+)$")
_WARMUP_AFTER = re.compile(r"^(?P<rest>.+?) (?:with|\+|after|and) (?:a )?(?:linear )?warm-?up$")
WARMUP_FRACTION = 0.03  # LLaVA's warmup ratio, used when a phrase asks for warmup without a length


def lr_schedule_phrase(item: Item, ctx: Context) -> Resolution | None:
    text = item.text
    if re.fullmatch(r"no (?:lr |learning[- ]rate )?warm-?up", text):
        return Resolution({"warmup_steps": 0}, "lr_schedule.no_warmup")
    if text in known_schedules():  # exact kind names, including plugin schedules
        return Resolution({"kind": text}, "lr_schedule.kind", notes=_schedule_notes(ctx, {"kind": text}))
    warm = _WARMUP_BEFORE.match(text) or _WARMUP_AFTER.match(text)
    core = warm.group("rest") if warm else text
    for pattern, params in _SCHEDULES:
        if re.fullmatch(pattern, core):
            params = dict(params)
            notes = []
            if warm:
                steps = ctx.base.get(f"stages.{ctx.bound.stage}.steps")
                params["warmup_steps"] = max(1, round(WARMUP_FRACTION * steps))
                notes.append(f"warmup {params['warmup_steps']} steps = {WARMUP_FRACTION:.0%} of {steps}")
            return Resolution(params, "lr_schedule.phrase", notes=notes + _schedule_notes(ctx, params))
    if re.search(_UNSUPPORTED_SCHEDULES, text):
        raise UnsupportedValue(f"schedule {item.label!r} is not implemented in longva.train.schedules;"
                               f" known kinds: {', '.join(known_schedules())}")
    return None


def _schedule_notes(ctx: Context, params: dict) -> list[str]:
    stage = ctx.bound.stage
    lr = ctx.base.get(f"stages.{stage}.lr")
    warmup = params.get("warmup_steps", ctx.base_value("warmup_steps"))
    chosen = ", ".join(f"{k}={v}" for k, v in params.items() if k not in ("kind", "warmup_steps"))
    note = f"{stage}: peak LR kept at base {lr:g}, warmup {warmup}"
    return [f"{note}; defaults {chosen}" if chosen else note]


# ---- model.projector --------------------------------------------------------------------------

_MLP = (r"(?P<n>\d+)[- ]?layers? (?:mlp|perceptron)s?", r"mlp (?:with )?(?P<n>\d+) layers?",
        r"mlp ?(?P<n>\d+)x?(?:_gelu)?")
_LINEAR = r"(?:a )?(?:single )?linear(?: (?:layer|projection|projector|map(?:ping)?))?|1[- ]layer (?:mlp|linear)"
_TRANSFORMER = (r"(?:(?P<n>\d+)[- ]layers? )?transformer(?: (?:layers?|blocks?|encoder(?: layers?)?))?"
                r"(?: with (?P<m>\d+) layers?)?")
_CROSS = (r"(?:(?P<n>\d+)[- ]layers? )?(?:cross[- ]?attention(?: (?:layers?|blocks?|resampler))?"
          r"|perceiver(?: resampler)?"
          r"|resampler|q-?former|learned quer(?:y|ies)(?: resampler)?)(?: with (?P<q>\d+) quer(?:y|ies))?")
_UNSUPPORTED_PROJECTORS = r"\b(?:c-?abstractor|d-?abstractor|conv\w*|pixel[- ]shuffle|honeybee|ldp)\b"


def projector_phrase(item: Item, ctx: Context) -> Resolution | None:
    text = item.text
    for pattern in _MLP:
        if m := re.fullmatch(pattern, text):
            depth = int(m.group("n"))
            kind = "linear" if depth == 1 else f"mlp{depth}x_gelu"
            return Resolution({"type": kind}, "projector.mlp", notes=[f"{depth}-layer MLP = {kind}"])
    if re.fullmatch(_LINEAR, text):
        return Resolution({"type": "linear"}, "projector.linear")
    if m := re.fullmatch(_TRANSFORMER, text):
        layers = int(m.group("n") or m.group("m") or 2)
        return Resolution({"type": "transformer", "num_layers": layers}, "projector.transformer",
                          notes=[f"{layers} self-attention layers over each grid's tokens (token count unchanged)"])
    if m := re.fullmatch(_CROSS, text):
        return _cross_attention(m, ctx)
    if re.search(_UNSUPPORTED_PROJECTORS, text):
        raise UnsupportedValue(f"projector {item.label!r} is not implemented; known types: linear, mlpNx_gelu,"
                               " transformer, cross_attn, identity")
    return None


def _cross_attention(m: re.Match, ctx: Context) -> Resolution:
    """Learned queries; by default as many as the grid's native tokens, so the token budget
    the LM sees after the recipe's pooling is unchanged (the ablation is about the operator)."""
    layers = int(m.group("n") or 2)
    native = ctx.base.config.model.vision.grid_side ** 2
    queries = int(m.group("q") or native)
    base_tokens = tokens_per_frame(ctx.base)
    note = (f"{queries} learned queries per grid (= native {native} tokens, so the LM still sees"
            f" {base_tokens} tokens/frame after pooling), {layers} cross-attention blocks")
    return Resolution({"type": "cross_attn", "num_queries": queries, "num_layers": layers},
                      "projector.cross_attn", notes=[note])


# ---- vision.tower_training (the tower family: the architecture phrasings below) ------------


def vision_tower_training(item: Item, ctx: Context) -> Resolution | None:
    text = item.text
    if re.search(r"\b(?:unfrozen|unfreez\w*|trainable|trained|fine-?tun\w*|end-to-end|tuned)\b", text):
        return Resolution({"frozen": False}, "vision_tower.trained")
    if re.search(r"\b(?:frozen|freez\w*|fixed)\b", text):
        return Resolution({"frozen": True}, "vision_tower.frozen")
    return None


# ---- vision.encoding --------------------------------------------------------------------------


def encoding_phrase(item: Item, ctx: Context) -> Resolution | None:
    text = item.text
    params: dict = {}
    if m := re.search(r"\b(unires|anyres)\b", text):
        params["scheme"] = m.group(1)
    if m := re.search(r"\b(?:up to |max(?:imum)? |at most |with )?(\d+) grids?\b", text):
        params["max_grids"] = int(m.group(1))
    return Resolution(params, "encoding.phrase") if params else None


# ---- data.align_mix ---------------------------------------------------------------------------


def data_mix_phrase(item: Item, ctx: Context) -> Resolution | None:
    text = item.text
    if m := re.fullmatch(r"(?:only )?(multi|single)[- ]grid(?: (?:images?|data|frames?))?(?: only)?", text):
        if "only" in text:
            chosen = f"{m.group(1)}_grid"
            other = "single_grid" if chosen == "multi_grid" else "multi_grid"
            return Resolution({chosen: 1.0, other: 0.0}, "data_mix.only")
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)\s*% (multi|single)[- ]grid(?: \w+)?", text):
        return Resolution({f"{m.group(2)}_grid": float(m.group(1)) / 100}, "data_mix.percent")
    if re.fullmatch(r"(?:equal|balanced|50/50|50-50)(?: mix(?:ture)?)?", text):
        return Resolution({"multi_grid": 0.5, "single_grid": 0.5}, "data_mix.equal")
    return None


# (knob id, recogniser name, function), in the order each knob's chain tries them
RECOGNISERS: tuple[tuple[str, str, Recogniser], ...] = (
    ("vision.pooling", "pooling.phrase", pooling_phrase),
    ("train.lr_schedule", "lr_schedule.phrase", lr_schedule_phrase),
    ("model.projector", "projector.phrase", projector_phrase),
    ("vision.tower_training", "vision_tower.training", vision_tower_training),
    ("vision.encoding", "encoding.phrase", encoding_phrase),
    ("data.align_mix", "data_mix.phrase", data_mix_phrase),
)


# ---- VLM-architecture phrasings ---------------------------------------------------------------
# Value phrasings of the architecture knobs (`recipe_knobs`): tower and LM families, the
# visual tokens' position, the attention mask. Sizes a plan names ("ViT-B/16", "Mistral 7B") are
# another model's scale: the family is applied at the toy base's scale and a note says so.

_SIZE_NOTE = "size in the name not applied: the toy recipe keeps its own scale (image size, grid, width)"

# (family, pattern); checked in order, after the fused phrasings
_TOWERS = (
    ("dinov2", r"\bdino(?:v2|-?v2)?\b"),
    ("resnet", r"\bresnet(?:-?\d+)?\b"),
    ("convnext", r"\bconvnext\w*\b"),
    ("siglip", r"^(?:google |the )?siglip\b"),
    ("clip", r"^(?:openai |the )?clip\b"),
    ("vit", r"\bvit\b|\bvit-[a-z]+\b|\bvision transformer\b"),
)
_UNSUPPORTED_TOWERS = r"\b(?:eva\w*|internvit\w*|swin\w*|beit\w*|efficientnet\w*|mae|regnet\w*)\b"
_FUSED = r"\bfus(?:ed|ion)\b|\bconcat\w*\b|\+|\bdino\w*[- ]siglip\b|\bsiglip[- ]dino\w*\b|\bdual[- ]encoder"


def vision_tower_family(item: Item, ctx: Context) -> Resolution | None:
    text = item.text
    if re.search(_UNSUPPORTED_TOWERS, text):
        raise UnsupportedValue(f"vision tower {item.label!r} is not supported; known: clip, siglip, vit, dinov2,"
                               " resnet, convnext, fused (e.g. DINO-SigLIP)")
    named = [family for family, pattern in _TOWERS if re.search(pattern, text)]
    anywhere = [family for family, pattern in _TOWERS if re.search(pattern.replace("^", r"\b"), text)]
    if re.search(_FUSED, text) and len(anywhere) >= 2:
        named = anywhere
        parts = sorted(named[:2], key=lambda f: f != "dinov2")  # Prismatic's order: DINOv2 first
        return Resolution({"type": "fused", "parts": parts}, "vision_tower.fused",
                          notes=[f"{' + '.join(parts)} features concatenated channel-wise on one shared grid",
                                 *_tower_notes(ctx)])
    if not named:
        return None
    family = named[0]
    notes = _tower_notes(ctx) if family not in ("clip", "siglip") else []
    if re.search(r"\d", text) or family in ("clip", "siglip"):
        notes.append(_SIZE_NOTE if re.search(r"\d", text) else "tower size (hf_config) kept from the base;"
                     " only the family changes")
    return Resolution({"type": family}, "vision_tower.family", notes=notes)


def _tower_notes(ctx: Context) -> list[str]:
    vision = ctx.base.config.model.vision
    notes = [f"at the base's {vision.image_size} px, {vision.grid_side}x{vision.grid_side} grid and width"
             f" {vision.hidden_size} per tower"]
    if ctx.base.get("stages.v0_vision.enabled"):
        notes.append("v0_vision pretrains it contrastively (image embedding = mean of its grid tokens)")
    return notes


_LMS = (("qwen2", r"^qwen[- ]?(?:2|1\.5)?\b"), ("llama", r"^(?:meta[- ])?llama(?:[- ]?[23](?:\.\d)?)?\b|^vicuna\b"),
        ("mistral", r"^mistral\b"), ("gemma", r"^(?:google )?gemma(?:[- ]?\d)?\b"))


def lm_phrase(item: Item, ctx: Context) -> Resolution | None:
    text = item.text
    for family, pattern in _LMS:
        if re.match(pattern, text):
            notes = ["Vicuna is a fine-tuned LLaMA: the llama family"] if text.startswith("vicuna") else []
            if re.search(r"\d+(?:\.\d+)?\s*[bm]\b", text):
                notes.append("parameter count not applied: the toy recipe keeps its LM size"
                             " (set hidden_size=, num_layers=)")
            notes.append(f"chat template kept ({ctx.base.config.model.template}): the toy tokenizer is shared")
            return Resolution({"model_type": family}, "lm.family", notes=notes)
    if m := re.fullmatch(r"(\d+) (?:transformer |decoder |hidden )?layers?", text):
        return Resolution({"num_layers": int(m.group(1))}, "lm.layers")
    sized = re.fullmatch(r"\d+(?:\.\d+)?\s*[bm](?: parameters?| params?)?", text)
    if sized or re.search(r"\b(?:larger|smaller|bigger)\b", text):
        raise UnsupportedValue(f"LM size {item.label!r} does not map onto the toy recipe; give hidden_size=...,"
                               " num_layers=..., intermediate_size=...")
    if re.search(r"\b(?:gpt\w*|phi\w*|opt|mpt|falcon|t5|bloom\w*)\b", text):
        raise UnsupportedValue(f"LM family {item.label!r} is not supported by the recipe; known: qwen2, llama"
                               " (LLaMA-2, Vicuna), mistral, gemma")
    return None


_VISUAL = r"(?:image|visual|vision|video)(?:[- ]tokens?| features| embeddings)?s?"
_BEFORE = (rf"^(?:the )?{_VISUAL} (?:first|before (?:the )?(?:text|question|prompt|instruction)s?)\b"
           r"|^(?:the )?(?:text|question|prompt|instruction)s? (?:last|after (?:the )?(?:image|visual|video)\w*)"
           r"|^prepend(?:ed)?\b|^before(?: the)? text$")
_AFTER = (rf"^(?:the )?{_VISUAL} (?:last|after (?:the )?(?:text|question|prompt|instruction)s?)\b"
          r"|^(?:the )?(?:text|question|prompt|instruction)s? (?:first|before (?:the )?(?:image|visual|video)\w*)"
          r"|^append(?:ed)?\b|^after(?: the)? text$")
_INTERLEAVED = r"^interleav\w*\b|\binterleav(?:ed|ing) (?:per|with|by) frames?\b|\bper[- ]frame (?:text )?markers?\b"


def visual_position_phrase(item: Item, ctx: Context) -> Resolution | None:
    text = item.text
    if re.search(_INTERLEAVED, text):
        marker = ctx.base.config.model.frame_marker
        return Resolution({"position": "interleaved"}, "visual_position.interleaved",
                          notes=[f"each frame/grid's tokens follow the text marker {marker!r}"])
    if re.search(_BEFORE, text):
        return Resolution({"position": "before_text"}, "visual_position.before")
    if re.search(_AFTER, text):
        return Resolution({"position": "after_text"}, "visual_position.after")
    return None


_PREFIX = (r"\bprefix[- ]?lm\b|\bbidirectional(?: attention)?(?: (?:over|on|among|between|for|across)"
           rf" (?:the |all )?{_VISUAL})?\b|\bnon-?causal\b|\bfull attention over (?:the )?{_VISUAL}")


def attention_phrase(item: Item, ctx: Context) -> Resolution | None:
    text = item.text
    if re.search(r"\b(?:sliding|local|sparse|windowed)\b", text):
        raise UnsupportedValue(f"attention {item.label!r} is not implemented; known: causal, prefix_lm"
                               " (bidirectional over each image/video's tokens)")
    if re.search(_PREFIX, text):
        return Resolution({"mode": "prefix_lm"}, "attention.prefix_lm",
                          notes=["the visual tokens of each image/video attend to each other both ways; text causal"])
    if re.fullmatch(r"(?:fully |standard |plain )?causal(?: attention| mask(?:ing)?| lm)?", text):
        return Resolution({"mode": "causal"}, "attention.causal")
    return None


# (knob id, recogniser name, function), registered by `adapter.register` before the generic ones
ARCHITECTURE_RECOGNISERS: tuple[tuple[str, str, Recogniser], ...] = (
    ("vision.tower", "vision_tower.family", vision_tower_family),
    ("lm.backbone", "lm.phrase", lm_phrase),
    ("prompt.visual_position", "visual_position.phrase", visual_position_phrase),
    ("lm.attention_mask", "attention.phrase", attention_phrase),
)
