"""Synthetic pass-key retrieval text (Mohtashami & Jaggi 2023), sized for tiny models.

    <filler> the pass key is 7 3 . remember it . <filler> what is the pass key ? the pass key is 7 3

Filler is random words from a small list, the key sits at a chosen depth, and the loss is on the
answer digits only (labels are -100 elsewhere). Works on token ids through any tokenizer that
encodes each word / digit on its own (the built-in word-level tokenizer does, one id per word).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from longva.data.indexed import IndexedBatches
from longva.data.text_sources import TokenizerAdapter
from longva.errors import ConfigError
from longva.model.prompt import IGNORE_INDEX

FILLER_WORDS = (
    "grass sky sun river stone tree cloud wind rain field road house light night day green blue "
    "yellow warm cold slow fast small big old new here there again and back we go".split()
)
DIGITS = tuple("0123456789")
KEY_PHRASE = "the pass key is"
QUESTION = "what is the pass key ?"
REMEMBER = ". remember it ."


def passkey_vocab() -> list[str]:
    """Every word the generator emits, plus <|endoftext|> (the document separator) and [UNK]."""
    words = ["<|endoftext|>", "[UNK]", *DIGITS]
    for w in (*FILLER_WORDS, *KEY_PHRASE.split(), *QUESTION.split(), *REMEMBER.split()):
        if w not in words:
            words.append(w)
    return words


def passkey_tokenizer():
    """A word-level `tokenizers.Tokenizer` over `passkey_vocab()` (one id per word)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(passkey_vocab())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok


@dataclass
class PasskeyConfig:
    seq_length: int = 256  # model input length L
    n_digits: int = 1  # digits of the key (10**n_digits possible keys)
    seed: int = 0
    depth: float | None = None  # 0 = key at the start, 1 = just before the question; None = random

    def validate(self, where: str = "data.passkey") -> None:
        if self.n_digits < 1:
            raise ConfigError(f"{where}.n_digits: must be >= 1, got {self.n_digits}")
        if self.depth is not None and not 0.0 <= self.depth <= 1.0:
            raise ConfigError(f"{where}.depth: must be in [0, 1], got {self.depth}")


class PasskeyGenerator:
    """Builds pass-key examples of an exact token length with a given tokenizer."""

    def __init__(self, tokenizer: TokenizerAdapter | None = None):
        self.tok = tokenizer or TokenizerAdapter(passkey_tokenizer())
        enc = self.tok.encode_batch
        self.filler = [np.asarray(ids) for ids in enc(list(FILLER_WORDS))]
        self.digits = [np.asarray(ids) for ids in enc(list(DIGITS))]
        key, question, remember = enc([KEY_PHRASE, QUESTION, REMEMBER])
        self.key, self.question, self.remember = (np.asarray(x) for x in (key, question, remember))

    def _filler(self, rng: np.random.Generator, n: int) -> np.ndarray:
        parts, total = [], 0
        while total < n:
            word = self.filler[int(rng.integers(len(self.filler)))]
            parts.append(word)
            total += len(word)
        return np.concatenate(parts)[:n] if parts else np.zeros(0, dtype=np.int64)

    def example(self, rng: np.random.Generator, seq_length: int, n_digits: int = 1, depth: float | None = None) -> dict:
        """input_ids (L,), labels (L,) (-100 except the answer), depth and the key digits."""
        key_digits = [int(d) for d in rng.integers(0, 10, n_digits)]
        answer = np.concatenate([self.digits[d] for d in key_digits])
        needle = np.concatenate([self.key, answer, self.remember])
        tail = np.concatenate([self.question, self.key])
        budget = seq_length + 1 - len(needle) - len(tail) - len(answer)  # ids = L + 1 tokens
        if budget < 0:
            raise ConfigError(f"passkey seq_length {seq_length} is too short; expected >= {seq_length - budget}")
        depth = float(rng.random()) if depth is None else depth
        before = int(round(depth * budget))
        filler = self._filler(rng, budget)
        ids = np.concatenate([filler[:before], needle, filler[before:], tail, answer]).astype(np.int64)
        labels = np.full(seq_length, IGNORE_INDEX, dtype=np.int64)
        labels[-len(answer) :] = ids[-len(answer) :]  # labels[i] is the token after input i
        return {"input_ids": ids[:-1], "labels": labels, "depth": depth, "key": key_digits}


class PasskeyBatches(IndexedBatches):
    """Endless, resumable batches of `batch_size` examples: batch i depends only on (seed, i)."""

    def __init__(self, config: PasskeyConfig, batch_size: int = 8, generator: PasskeyGenerator | None = None):
        config.validate()
        if batch_size < 1:
            raise ConfigError(f"batch_size: must be >= 1, got {batch_size}")
        super().__init__()
        self.config, self.batch_size, self.gen = config, batch_size, generator or PasskeyGenerator()

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        cfg = self.config
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, index]))
        rows = [self.gen.example(rng, cfg.seq_length, cfg.n_digits, cfg.depth) for _ in range(self.batch_size)]
        return {k: torch.from_numpy(np.stack([r[k] for r in rows])) for k in ("input_ids", "labels")}


@torch.no_grad()
def passkey_accuracy(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    """Share of examples whose every answer token is the teacher-forced argmax."""
    logits = model(input_ids=batch["input_ids"]).logits  # (B, L, V)
    labels = batch["labels"]
    mask = labels != IGNORE_INDEX
    correct = (logits.argmax(-1) == labels) | ~mask
    return correct.all(dim=1).float().mean().item()
