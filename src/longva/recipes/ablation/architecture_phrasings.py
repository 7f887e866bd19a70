"""Value phrasings of the architecture knobs (`architecture_knobs`): tower and LM families, the
visual tokens' position, the attention mask. Sizes a plan names ("ViT-B/16", "Mistral 7B") are
another model's scale: the family is applied at the toy base's scale and a note says so.
"""

from __future__ import annotations

import re

from longva.ablation.items import Item
from longva.ablation.knobs import Context, Recogniser, Resolution, UnsupportedValue

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
RECOGNISERS: tuple[tuple[str, str, Recogniser], ...] = (
    ("vision.tower", "vision_tower.family", vision_tower_family),
    ("lm.backbone", "lm.phrase", lm_phrase),
    ("prompt.visual_position", "visual_position.phrase", visual_position_phrase),
    ("lm.attention_mask", "attention.phrase", attention_phrase),
)
