"""Packed long-context text data: tokenise, upsample long documents, mix, shuffle, pack.

Pipeline for one epoch (everything lazy, so a corpus larger than RAM streams through):

    per source: files (order permuted per epoch) -> documents -> token ids
                -> long-document upsampling (docs > `upsample_threshold` tokens repeated
                   `upsample_factor` times; a fractional factor is rounded stochastically)
    mix sources by token share (each next document comes from the source furthest below its
        share, so the given mixture holds after upsampling, as in Fu et al. 2024)
    bounded shuffle buffer of documents (copies of an upsampled document get spread out)
    pack: doc SEP doc SEP ... cut into sequences of `seq_length + 1` tokens
          (input = seq[:-1], target = seq[1:], like the original's 224,001-token rows)

Everything is a pure function of (config, seed, epoch), so a position (epoch, sequence index)
identifies the stream state: `TextStream.load_state_dict` regenerates the epoch and skips to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from longva.data.text_sources import (
    TextSource,
    TokenizerAdapter,
    load_tokenizer,
    read_documents,
    resolve_source_path,
    source_bytes,
    source_files,
)
from longva.errors import ConfigError

Doc = np.ndarray  # (n,) int32 token ids of one document


@dataclass
class TextDataConfig:
    """Where the text comes from and how it is packed."""

    sources: list[TextSource] = field(default_factory=list)
    tokenizer: str | None = None  # tokenizer.json file or a local transformers tokenizer folder
    root: str | None = None  # when set, source paths are relative to it and may not leave it
    seq_length: int = 4096  # model input length L (each packed sequence holds L + 1 tokens)
    separator_token: str | int | None = None  # None: <|endoftext|>, else BOS, else EOS
    upsample_threshold: int = 4096  # documents longer than this (tokens) are upsampled
    upsample_factor: float = 1.0  # copies of a long document (1.0 = no upsampling)
    shuffle_buffer: int = 1024  # documents held for shuffling (bounds memory)
    tokenize_batch: int = 64  # documents per tokenizer call
    seed: int = 0

    def validate(self, where: str = "data") -> None:
        if self.seq_length < 1:
            raise ConfigError(f"{where}.seq_length: must be >= 1, got {self.seq_length}")
        if self.upsample_factor < 1.0:
            raise ConfigError(f"{where}.upsample_factor: must be >= 1.0, got {self.upsample_factor}")
        if self.shuffle_buffer < 1 or self.tokenize_batch < 1:
            raise ConfigError(f"{where}.shuffle_buffer and tokenize_batch: must be >= 1")


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def tokenize_documents(docs: Iterator[str], tokenizer: TokenizerAdapter, batch: int) -> Iterator[Doc]:
    """Token ids per document, tokenised `batch` documents at a time."""
    pending: list[str] = []
    for doc in docs:
        pending.append(doc)
        if len(pending) == batch:
            yield from (np.asarray(ids, dtype=np.int32) for ids in tokenizer.encode_batch(pending))
            pending = []
    if pending:
        yield from (np.asarray(ids, dtype=np.int32) for ids in tokenizer.encode_batch(pending))


def upsample_long(docs: Iterator[Doc], threshold: int, factor: float, rng: np.random.Generator) -> Iterator[Doc]:
    """Repeat documents longer than `threshold` tokens `factor` times (fraction: at random)."""
    whole, frac = int(factor), factor - int(factor)
    for doc in docs:
        copies = 1
        if len(doc) > threshold:
            copies = whole + int(frac > 0 and rng.random() < frac)
        for _ in range(copies):
            yield doc


def mix_by_tokens(streams: list[Iterator[Doc]], weights: list[float]) -> Iterator[Doc]:
    """Interleave document streams so each gets its `weights` share of the tokens.

    The next document comes from the stream with the smallest emitted_tokens / weight (ties: the
    first). An exhausted stream drops out; the others continue until all are done.
    """
    emitted = [0.0] * len(streams)
    live = list(range(len(streams)))
    while live:
        k = min(live, key=lambda i: (emitted[i] / weights[i], i))
        doc = next(streams[k], None)
        if doc is None:
            live.remove(k)
            continue
        emitted[k] += len(doc)
        yield doc


def shuffle_buffered(items: Iterator[Doc], size: int, rng: np.random.Generator) -> Iterator[Doc]:
    """Approximate shuffle with a buffer of `size` items (memory bounded by the buffer)."""
    buffer: list[Doc] = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        j = int(rng.integers(size))
        yield buffer[j]
        buffer[j] = item
    for j in rng.permutation(len(buffer)):
        yield buffer[j]


def pack_documents(
    docs: Iterator[Doc], length: int, separator: int, keep_remainder: bool = False
) -> Iterator[np.ndarray]:
    """Concatenate `doc SEP doc SEP ...` and cut it into sequences of `length` tokens.

    Each sequence is a fresh (length,) int64 array; a document may span several sequences. The
    last, shorter piece is dropped unless `keep_remainder` (used to check that no token is lost).
    """
    sep = np.asarray([separator], dtype=np.int32)
    out, filled = np.empty(length, dtype=np.int64), 0
    for doc in docs:
        for piece in (doc, sep):
            pos = 0
            while pos < len(piece):
                take = min(length - filled, len(piece) - pos)
                out[filled : filled + take] = piece[pos : pos + take]
                filled, pos = filled + take, pos + take
                if filled == length:
                    yield out
                    out, filled = np.empty(length, dtype=np.int64), 0
    if keep_remainder and filled:
        yield out[:filled]


class TextStream:
    """Endless, resumable stream of packed sequences of `seq_length + 1` token ids.

    state: {"epoch": e, "index": i} = the next sequence is the i-th of epoch e.
    """

    def __init__(self, config: TextDataConfig, tokenizer: TokenizerAdapter | None = None):
        config.validate()
        if not config.sources:
            raise ConfigError("data.sources: no text source given; expected at least one {path: ...}")
        if tokenizer is None:
            if config.tokenizer is None:
                raise ConfigError("data.tokenizer: no tokenizer given; expected a tokenizer.json or tokenizer folder")
            tokenizer = load_tokenizer(config.tokenizer)
        self.config, self.tokenizer = config, tokenizer
        self.separator = tokenizer.separator_id(config.separator_token)
        self._files = [source_files(s, resolve_source_path(s, config.root)) for s in config.sources]
        self.weights = [
            s.weight if s.weight is not None else float(source_bytes(f))
            for s, f in zip(config.sources, self._files, strict=True)
        ]
        self.epoch, self.index = 0, 0
        self._it: Iterator[np.ndarray] | None = None

    # -- one epoch -------------------------------------------------------------------------
    def _source_docs(self, k: int, epoch: int) -> Iterator[Doc]:
        cfg, source = self.config, self.config.sources[k]
        files = self._files[k]
        order = _rng(cfg.seed, epoch, k, 0).permutation(len(files))  # file order varies per epoch
        texts = (doc for i in order for doc in read_documents(files[i][0], files[i][1], source.text_field))
        tokens = tokenize_documents(texts, self.tokenizer, cfg.tokenize_batch)
        return upsample_long(tokens, cfg.upsample_threshold, cfg.upsample_factor, _rng(cfg.seed, epoch, k, 1))

    def epoch_documents(self, epoch: int) -> Iterator[Doc]:
        """The shuffled, mixed document stream of one epoch (before packing)."""
        streams = [self._source_docs(k, epoch) for k in range(len(self.config.sources))]
        mixed = mix_by_tokens(streams, self.weights)
        return shuffle_buffered(mixed, self.config.shuffle_buffer, _rng(self.config.seed, epoch, 1 << 20))

    def epoch_sequences(self, epoch: int, keep_remainder: bool = False) -> Iterator[np.ndarray]:
        return pack_documents(self.epoch_documents(epoch), self.config.seq_length + 1, self.separator, keep_remainder)

    # -- resumable iteration ---------------------------------------------------------------
    def __iter__(self) -> TextStream:
        return self

    def __next__(self) -> np.ndarray:
        """The next (seq_length + 1,) sequence; epochs follow each other forever."""
        for _ in range(2):
            if self._it is None:
                self._it = self._skip(self.epoch_sequences(self.epoch), self.index)
            seq = next(self._it, None)
            if seq is not None:
                self.index += 1
                return seq
            if self.index == 0:
                break
            self.epoch, self.index, self._it = self.epoch + 1, 0, None
        raise ConfigError(
            f"data: the sources hold fewer than {self.config.seq_length + 1} tokens; expected at least one full "
            "sequence"
        )

    @staticmethod
    def _skip(it: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
        for _ in range(n):
            if next(it, None) is None:
                break
        return it

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.index, self._it = int(state["epoch"]), int(state["index"]), None


def sequence_to_example(seq: np.ndarray) -> dict[str, np.ndarray]:
    """(L+1,) ids -> input_ids (L,) and shifted labels (L,)."""
    return {"input_ids": seq[:-1], "labels": seq[1:]}


class TextBatches:
    """Resumable batches of `batch_size` packed sequences: input_ids / labels (B, L) int64."""

    def __init__(self, stream: TextStream, batch_size: int = 1):
        if batch_size < 1:
            raise ConfigError(f"data.batch_size: must be >= 1, got {batch_size}")
        self.stream, self.batch_size = stream, batch_size

    def __iter__(self) -> TextBatches:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        seqs = torch.from_numpy(np.stack([next(self.stream) for _ in range(self.batch_size)]))  # (B, L+1)
        return {"input_ids": seqs[:, :-1].contiguous(), "labels": seqs[:, 1:].contiguous()}

    def state_dict(self) -> dict:
        return self.stream.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stream.load_state_dict(state)
