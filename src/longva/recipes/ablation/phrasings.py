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


# ---- vision.tower_training (the tower family: architecture_phrasings.py) ---------------------


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
