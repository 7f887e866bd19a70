"""Tiny tokenizers and model configs for tests and the toy recipe (built in milliseconds).

The tokenizer is a byte-level BPE trained with `tokenizers` on a small corpus, with Qwen's
special tokens (`<|endoftext|>`, `<|im_start|>`, `<|im_end|>`) plus `<image>` (and optionally the
Llama-3 header tokens), wrapped as a transformers `PreTrainedTokenizerFast`.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from longva.model.config import (
    EncodingConfig,
    LMConfig,
    LongVAConfig,
    PoolingConfig,
    ProjectorConfig,
    VisionTowerConfig,
)
from longva.model.tower_presets import tower_like

QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"]
LLAMA3_SPECIAL = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]

_DEFAULT_CORPUS = (
    "You are a helpful assistant. What is in the image? Describe the video in detail. "
    "The answer is yes. The colour of the square is red, green, blue, yellow, purple, orange. "
    "Find the frame with the needle and answer the question using a single word or phrase. "
    "Answer with the option's letter from the given choices directly. A B C D 0 1 2 3 4 5 6 7 8 9 "
    "system user assistant\n"
)


def build_tiny_tokenizer(
    corpus: Iterable[str] | None = None,
    vocab_size: int = 400,
    extra_special: Iterable[str] = (),
    llama3_tokens: bool = False,
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer with Qwen special tokens; `corpus` defaults to a tiny text."""
    specials = list(QWEN_SPECIAL) + (LLAMA3_SPECIAL if llama3_tokens else []) + list(extra_special)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = list(corpus) if corpus is not None else [_DEFAULT_CORPUS] * 4
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=[s for s in specials if s not in ("<|im_end|>", "<|endoftext|>")],
        clean_up_tokenization_spaces=False,
        model_max_length=10**9,
    )


def tiny_lm_config(
    vocab_size: int,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int | None = None,
    rope_theta: float = 1e4,
    model_type: str = "qwen2",
    tie_word_embeddings: bool = True,
) -> LMConfig:
    return LMConfig(
        model_type=model_type,
        hf_config=dict(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            intermediate_size=intermediate_size or 4 * hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            num_key_value_heads=num_kv_heads,
            max_position_embeddings=1 << 20,
            tie_word_embeddings=tie_word_embeddings,
            **({"head_dim": hidden_size // num_heads} if model_type == "gemma" else {}),  # Gemma's default: 256
        ),
        rope_theta=rope_theta,
    )


def tiny_vision_config(
    tower: str = "clip", image_size: int = 32, patch_size: int = 8, hidden_size: int = 32, num_layers: int = 2
) -> VisionTowerConfig:
    """A tiny tower of any family; non-CLIP/SigLIP ones have the tiny CLIP's grid and width (`tower_like`)."""
    if tower not in ("clip", "siglip"):
        return tower_like(tower, tiny_vision_config("clip", image_size, patch_size, hidden_size, num_layers))
    return VisionTowerConfig(
        type=tower,  # type: ignore[arg-type]
        hf_config=dict(
            hidden_size=hidden_size,
            intermediate_size=2 * hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch_size,
        ),
        name_or_path=None,
        chunk_size=16,
    )


def tiny_longva_config(
    vocab_size: int,
    tower: str = "clip",
    projector: str = "mlp2x_gelu",
    pooling: PoolingConfig | None = None,
    scheme: str = "unires",
    max_grids: int = 8,
    lm_hidden: int = 64,
    model_type: str = "qwen2",
    **vision_kwargs,
) -> LongVAConfig:
    """A complete tiny LongVA config (32 px grids of 4x4 patches -> 2x2 = 4 tokens each)."""
    return LongVAConfig(
        vision=tiny_vision_config(tower, **vision_kwargs),
        projector=ProjectorConfig(type=projector),
        pooling=pooling or PoolingConfig(),
        encoding=EncodingConfig(scheme=scheme, max_grids=max_grids),  # type: ignore[arg-type]
        lm=tiny_lm_config(vocab_size, hidden_size=lm_hidden, model_type=model_type),
        template="llama_3" if model_type == "llama" else "qwen_1_5",
    )
