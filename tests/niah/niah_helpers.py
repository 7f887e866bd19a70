"""Tiny models and V-NIAH inputs built in code for the niah tests (and their subprocesses)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from longva.niah.embedding_cache import FrameStore
from longva.niah.evaluator import Cell
from longva.niah.grid import Grid, insert_index
from longva.niah.reference import reference_evaluate
from longva.niah.results import cell_key
from longva.niah.sequence import FrameSource, Run, TensorSource, normalize, text_source
from longva.niah.tasks.builder import build_vniah, single_items
from longva.niah.tasks.prompts import NeedlePrompt

TPF, DIM, VOCAB = 4, 64, 300


def tiny_lm(seed: int = 0, vocab: int = VOCAB, rope_theta: float = 1e4) -> Qwen2ForCausalLM:
    """A 2-layer Qwen2 (hidden 64) with a large init, so argmax margins dwarf float noise."""
    torch.manual_seed(seed)
    cfg = Qwen2Config(
        vocab_size=vocab,
        hidden_size=DIM,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1 << 16,
        initializer_range=0.2,
        rope_parameters={"rope_type": "default", "rope_theta": rope_theta},
    )
    return Qwen2ForCausalLM(cfg).eval()


def embed_fn(lm):
    emb = lm.get_input_embeddings()
    return lambda ids: emb(ids)


def tiny_vniah(lm, grid: Grid, n_needles: int = 3, max_frames: int = 64, seed: int = 1):
    """(cells, sources): random haystack frames and needles, random question/answer ids."""
    g = torch.Generator().manual_seed(seed)
    hay = FrameStore.from_tensor(torch.randn(max_frames, TPF, DIM, generator=g))  # (T, tpf, D)
    needle_emb = torch.randn(n_needles, TPF, DIM, generator=g)
    needles = [
        NeedlePrompt(
            f"n{i}",
            tuple(torch.randint(0, VOCAB, (5,), generator=g).tolist()),
            tuple(torch.randint(0, VOCAB, (1 + i % 3,), generator=g).tolist()),
        )
        for i in range(n_needles)
    ]
    pre, post = [1, 2, 3, 4, 5], [6, 7, 8]
    embed = embed_fn(lm)
    return build_vniah(grid, single_items(needles), pre, post, hay, list(needle_emb), embed, TPF)


def original_layout(grid: Grid, needles, tpf: int, pre_len: int, post_len: int) -> list[Cell]:
    """The original V-NIAH cells written out (dossier §3.5), the yardstick of the builder:

    [preprompt] + haystack[0:k] + needle_n + haystack[k:T] + [question_n] + [postprompt]
    """
    cells = []
    for frames, depth in grid.points():
        k = insert_index(depth, frames)
        for n, needle in enumerate(needles):
            runs = normalize([
                Run("pre", 0, pre_len), Run("hay", 0, k * tpf), Run(f"needle:{n}", 0, tpf),
                Run("hay", k * tpf, frames * tpf), Run(f"question:{n}", 0, len(needle.question_ids)),
                Run("post", 0, post_len),
            ])
            meta = {"needle": n, "needle_id": needle.id, "frames": frames, "depth": depth}
            cells.append(Cell(cell_key(n, frames, depth), runs, needle.answer_ids, f"answer:{n}",
                              needle.answer_text, needle.is_option, meta))
    return cells


def original_sources(embed, pre, post, haystack: FrameStore, needle_embeddings, needles) -> dict:
    """Name -> source of `original_layout`; needle_embeddings (N, tpf, D)."""
    sources = {"pre": text_source(pre, embed), "post": text_source(post, embed), "hay": FrameSource(haystack)}
    for n, needle in enumerate(needles):
        sources[f"needle:{n}"] = TensorSource(needle_embeddings[n])
        sources[f"question:{n}"] = text_source(needle.question_ids, embed)
        sources[f"answer:{n}"] = text_source(needle.answer_ids, embed)
    return sources


def with_greedy_answers(lm, sources, cells: list[Cell], every: int = 2) -> list[Cell]:
    """Give every `every`-th cell the naive model's own greedy answer (so some cells are right)."""
    out = []
    for i, cell in enumerate(cells):
        if i % every:
            out.append(cell)
            continue
        answer, source = list(cell.answer_ids), f"greedy:{i}"
        for k in range(len(answer)):  # pred[k] depends on answer[:k] only, already greedy
            sources[source] = TensorSource(embed_fn(lm)(torch.tensor(answer)).detach())
            probe = replace(cell, answer_ids=tuple(answer), answer_source=source)
            answer[k] = reference_evaluate(lm, sources, [probe])[0].pred_ids[k]
        sources[source] = TensorSource(embed_fn(lm)(torch.tensor(answer)).detach())
        out.append(replace(cell, answer_ids=tuple(answer), answer_source=source))
    return out


def save_tiny_text_model(directory: Path, seed: int = 0) -> Path:
    """A plain HF Qwen2 folder with the tiny tokenizer (for `longva niah-text`)."""
    from longva.model.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    lm = tiny_lm(seed, vocab=len(tok))
    lm.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def save_tiny_longva(directory: Path, seed: int = 0) -> Path:
    """A tiny LongVA folder (32 px frames -> 4 tokens each) with its tokenizer."""
    from longva.model.modeling_longva import LongVAForCausalLM
    from longva.model.processor import LongVAProcessor
    from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config

    torch.manual_seed(seed)
    tok = build_tiny_tokenizer()
    cfg = tiny_longva_config(len(tok))
    model = LongVAForCausalLM(cfg).eval()
    model.save_pretrained(directory, LongVAProcessor(tok, cfg))
    return directory
