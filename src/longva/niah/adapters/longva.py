"""LongVA (this package's `LongVAForCausalLM`): one unit = one frame padded to a square, the
original V-NIAH prompt (`prompt_pieces`), questions verbatim, plain 0..L-1 positions."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from longva.niah.adapters.base import Piece, VideoAdapter, VideoPiece, VideoPrompt
from longva.niah.models import VisionNIAHModel, from_longva
from longva.niah.text_niah import safe_tokenize


def prompt_pieces(template_name: str) -> tuple[str, str]:
    """(preprompt, postprompt) around the visual tokens + question, from the chat template.

    qwen_1_5 gives the original's strings: "<|im_start|>system\\nYou are a helpful
    assistant.<|im_end|>\\n<|im_start|>user\\n" and "<|im_end|>\\n<|im_start|>assistant\\n".
    """
    from longva.model.prompt import get_template

    marker = "\x00"
    text = get_template(template_name).render([("user", marker)], add_generation_prompt=True)
    pre, post = text.split(marker)
    return pre, post


def adapter_from_vision_model(vm: VisionNIAHModel, model) -> VideoAdapter:
    """A `VisionNIAHModel` (LongVA + processor) behind the adapter interface."""
    pre, post = (tuple(safe_tokenize(vm.tokenizer, s)) for s in prompt_pieces(vm.template))

    def full_forward(pieces: Sequence[Piece]) -> torch.Tensor:
        from longva.model.prompt import IMAGE_TOKEN_INDEX

        ids, feats = [], []
        for piece in pieces:
            if isinstance(piece, VideoPiece):
                ids.append(IMAGE_TOKEN_INDEX)
                feats.append(vm.encode(list(piece.frames)).flatten(0, 1))  # (F * tpf, D)
            else:
                ids.extend(piece)
        out = model(input_ids=torch.tensor([ids]), visual_features=feats)
        return out.logits[0].float()  # (L, V)

    return VideoAdapter(
        family="longva",
        lm=vm.lm,
        embed_text=vm.embed_fn,
        encode_units=vm.encode,
        frames_per_unit=1,
        tokens_per_unit=vm.tokens_per_frame,
        prompt=VideoPrompt(pre, post),
        tokenizer=vm.tokenizer,
        decode=vm.decode,
        stop_ids=vm.stop_ids,
        visual_key=vm.visual_key,
        full_forward=full_forward,
        question_ids=lambda text: safe_tokenize(vm.tokenizer, text),
        settings={"template": vm.template},
    )


def from_model(model, processor, weights_id: str | None = None) -> VideoAdapter:
    """A loaded `LongVAForCausalLM` + `LongVAProcessor`."""
    return adapter_from_vision_model(from_longva(model, processor, weights_id), model)


def load(model_dir, dtype: torch.dtype | None = None, device: str = "cpu") -> VideoAdapter:
    """A LongVA model folder (the weights fingerprint keys its embedding cache, as before)."""
    from longva.model.modeling_longva import LongVAForCausalLM
    from longva.model.processor import LongVAProcessor
    from longva.niah.embedding_cache import weights_fingerprint

    model = LongVAForCausalLM.from_pretrained(model_dir, dtype=dtype, device=device)
    processor = LongVAProcessor.from_pretrained(model_dir)
    return from_model(model, processor, weights_fingerprint(model_dir))
