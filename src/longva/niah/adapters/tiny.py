"""Tiny random video LMMs of every adapter family, built from configs in milliseconds.

For tests, the benchmark and the README figure: each family's real transformers class at toy
size (2 layers, hidden 64, 32 px frames), the package's tiny BPE tokenizer with the family's
special tokens, its real chat template, and a `video_preprocessor_config.json` sized to the
tiny tower. `save_tiny(dir, family)` writes a folder `longva niah --model` loads like a real one.
Weights are random (a large init keeps argmax margins far above float noise): numbers from
these models show the tool working, never a result.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from longva.niah.adapters.frames import FrameProcessing

VIDEO_SPECIALS = ["<video>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>", "<|image_pad|>"]
FRAME_PX = 32  # tiny frames (and towers)

# The families' chat templates (video + text turns of the llava-hf / Qwen releases)
ONEVISION_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ '\\n' + content['text'] }}{% endfor %}{{'<|im_end|>\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
NEXT_VIDEO_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    "{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>\\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
QWEN_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% for content in message['content'] %}"
    "{% if content['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TEMPLATES = {
    "llava_onevision": ONEVISION_TEMPLATE,
    "llava_next_video": NEXT_VIDEO_TEMPLATE,
    "qwen2_vl": QWEN_TEMPLATE,
    "qwen2_5_vl": QWEN_TEMPLATE,
}
PROCESSING = {
    "llava_onevision": FrameProcessing(size={"height": FRAME_PX, "width": FRAME_PX}),
    "llava_next_video": FrameProcessing(
        size={"shortest_edge": FRAME_PX},
        crop_size={"height": FRAME_PX, "width": FRAME_PX},
        do_center_crop=True,
    ),
    # 8 px = patch 4 x merge 2; frames of ~32x32 px -> an 8x8 patch grid -> 16 tokens per unit
    "qwen2_vl": FrameProcessing(size={"shortest_edge": 16 * 16, "longest_edge": 32 * 32}),
    "qwen2_5_vl": FrameProcessing(size={"shortest_edge": 16 * 16, "longest_edge": 32 * 32}),
}


def tiny_tokenizer():
    from longva.model.tiny import build_tiny_tokenizer

    return build_tiny_tokenizer(extra_special=VIDEO_SPECIALS)


def _text_config(
    tok, model_type: str | None, mrope: bool = False, vocab: int | None = None
) -> dict:
    cfg = dict(
        vocab_size=vocab or len(tok),  # a larger vocab (rows no token uses) makes the head matter
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1 << 16,
        initializer_range=0.2,
        bos_token_id=None,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1e4},
    )
    if mrope:
        cfg["rope_parameters"]["mrope_section"] = [2, 3, 3]  # head_dim 16 -> 8 rotary pairs
    if model_type:
        cfg["model_type"] = model_type
    return cfg


def _tower(model_type: str) -> dict:
    return dict(
        model_type=model_type,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=FRAME_PX,
        patch_size=8,  # 4x4 patches per frame
    )


def tiny_config(family: str, tok, vocab: int | None = None):
    """The transformers config of a tiny model of `family` (vocab: LM rows, default the
    tokenizer's)."""
    import transformers

    ids = {
        "image_token_id": tok.convert_tokens_to_ids("<image>"),
        "video_token_id": tok.convert_tokens_to_ids(
            "<|video_pad|>" if family.startswith("qwen") else "<video>"
        ),
    }
    if family == "llava_onevision":
        return transformers.LlavaOnevisionConfig(
            vision_config=_tower("siglip_vision_model"),
            text_config=_text_config(tok, "qwen2", vocab=vocab),
            vision_feature_layer=-1,
            image_grid_pinpoints=[[FRAME_PX, FRAME_PX]],
            **ids,
        )
    if family == "llava_next_video":
        return transformers.LlavaNextVideoConfig(
            vision_config=_tower("clip_vision_model"),
            text_config=_text_config(tok, "llama", vocab=vocab),
            vision_feature_layer=-1,
            spatial_pool_stride=2,
            image_grid_pinpoints=[[FRAME_PX, FRAME_PX]],
            **ids,
        )
    qwen_ids = {
        **ids,
        "vision_start_token_id": tok.convert_tokens_to_ids("<|vision_start|>"),
        "vision_end_token_id": tok.convert_tokens_to_ids("<|vision_end|>"),
    }
    if family == "qwen2_vl":
        vision = dict(
            depth=2,
            embed_dim=32,
            hidden_size=64,
            num_heads=2,
            mlp_ratio=2,
            patch_size=4,
            spatial_merge_size=2,
            temporal_patch_size=2,
        )
        text = _text_config(tok, None, mrope=True, vocab=vocab)
        return transformers.Qwen2VLConfig(vision_config=vision, text_config=text, **qwen_ids)
    if family == "qwen2_5_vl":
        vision = dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            patch_size=4,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=16,
            fullatt_block_indexes=[1],
            tokens_per_second=2,
        )
        text = _text_config(tok, None, mrope=True, vocab=vocab)
        return transformers.Qwen2_5_VLConfig(vision_config=vision, text_config=text, **qwen_ids)
    raise ValueError(f"no tiny config for family {family!r}")


def tiny_model(family: str, tok, seed: int = 0, vocab: int | None = None):
    """A tiny random model of `family` (eval mode, fp32)."""
    import transformers

    from longva.niah.adapters import HF_CLASSES

    torch.manual_seed(seed)
    config = tiny_config(family, tok, vocab)
    model = getattr(transformers, HF_CLASSES[family])(config)
    return model.eval()


def tiny_adapter(family: str, seed: int = 0, fps: float = 1.0):
    """(adapter, model, tokenizer) of a tiny random model, in memory."""
    from longva.niah.adapters import adapter_for

    tok = tiny_tokenizer()
    model = tiny_model(family, tok, seed)
    adapter = adapter_for(model, tok, family, TEMPLATES[family], PROCESSING[family], fps)
    return adapter, model, tok


def save_tiny(directory: str | Path, family: str, seed: int = 0, vocab: int | None = None) -> Path:
    """Write a tiny random model folder of `family` (weights, tokenizer, template, processor)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    directory = Path(directory)
    if family == "longva":
        return _save_tiny_longva(directory, seed)
    tok = tiny_tokenizer()
    tiny_model(family, tok, seed, vocab).save_pretrained(directory)
    tok.save_pretrained(directory)
    (directory / "chat_template.jinja").write_text(TEMPLATES[family], encoding="utf-8")
    processing = PROCESSING[family].to_dict()
    processing["image_mean"], processing["image_std"] = (
        list(processing["image_mean"]),
        list(processing["image_std"]),
    )
    (directory / "video_preprocessor_config.json").write_text(json.dumps(processing, indent=2))
    return directory


def _save_tiny_longva(directory: Path, seed: int) -> Path:
    from longva.model.modeling_longva import LongVAForCausalLM
    from longva.model.processor import LongVAProcessor
    from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config

    torch.manual_seed(seed)
    tok = build_tiny_tokenizer()
    cfg = tiny_longva_config(len(tok))
    LongVAForCausalLM(cfg).eval().save_pretrained(directory, LongVAProcessor(tok, cfg))
    return directory
