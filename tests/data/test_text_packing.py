"""Text data: reading sources, packing with separators, upsampling, mixture, determinism, resume."""

import json
import sys
from collections import Counter

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from longva.data.text import (
    TextDataConfig,
    TextStream,
    mix_by_tokens,
    pack_documents,
    sequence_to_example,
    shuffle_buffered,
    upsample_long,
)
from longva.data.text_sources import TextSource, TokenizerAdapter, load_tokenizer
from longva.errors import ConfigError, InputError

SEP = "<|endoftext|>"


def _tokenizer(n_docs=200, n_words=50):
    vocab = {SEP: 0, "[UNK]": 1}
    for word in [f"d{i}" for i in range(n_docs)] + [f"w{i}" for i in range(n_words)]:
        vocab[word] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok


def _doc(i, n, rng):
    """Document i: a unique marker word then n-1 filler words."""
    return " ".join([f"d{i}"] + [f"w{int(x)}" for x in rng.integers(0, 50, n - 1)])


def _corpus(tmp_path, lengths, name="a.jsonl", start=0):
    rng = np.random.default_rng(start)
    docs = [_doc(start + i, n, rng) for i, n in enumerate(lengths)]
    (tmp_path / name).write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    return docs


def _split_on_sep(stream_ids, sep=0):
    docs, cur = [], []
    for t in stream_ids:
        if t == sep:
            docs.append(tuple(cur))
            cur = []
        else:
            cur.append(t)
    return docs, cur


def _ids(tok, text):
    return tuple(tok.encode(text, add_special_tokens=False).ids)


def test_epoch_packs_every_token_once_with_separators(tmp_path):
    lengths = [5, 40, 3, 17, 64, 9, 1, 23, 30, 12] * 3
    docs = _corpus(tmp_path, lengths)
    tok = _tokenizer()
    cfg = TextDataConfig(sources=[TextSource(path=str(tmp_path / "a.jsonl"))], seq_length=15, shuffle_buffer=4)
    stream = TextStream(cfg, TokenizerAdapter(tok))
    seqs = list(stream.epoch_sequences(0, keep_remainder=True))
    assert all(len(s) == 16 for s in seqs[:-1]) and 0 < len(seqs[-1]) <= 16
    flat = np.concatenate(seqs).tolist()
    assert len(flat) == sum(lengths) + len(lengths)  # every token plus one separator per doc
    packed_docs, tail = _split_on_sep(flat)
    assert tail == []  # the stream ends with a separator: separators sit exactly between docs
    assert Counter(packed_docs) == Counter(_ids(tok, d) for d in docs)
    assert [d[0] for d in packed_docs] != [_ids(tok, d)[0] for d in docs]  # shuffled
    # input / shifted target
    ex = sequence_to_example(seqs[0])
    assert ex["input_ids"].tolist() == seqs[0][:-1].tolist() and ex["labels"].tolist() == seqs[0][1:].tolist()


def test_upsampling_repeats_only_long_documents(tmp_path):
    lengths = [10, 50, 8, 70, 12, 90]
    docs = _corpus(tmp_path, lengths)
    tok = _tokenizer()
    cfg = TextDataConfig(
        sources=[TextSource(path=str(tmp_path / "a.jsonl"))], seq_length=31, upsample_threshold=40, upsample_factor=3.0
    )
    flat = np.concatenate(list(TextStream(cfg, TokenizerAdapter(tok)).epoch_sequences(0, keep_remainder=True))).tolist()
    counts = Counter(_split_on_sep(flat)[0])
    for d, n in zip(docs, lengths, strict=True):
        assert counts[_ids(tok, d)] == (3 if n > 40 else 1)


def test_fractional_upsampling_rate():
    rng = np.random.default_rng(0)
    docs = [np.arange(n, dtype=np.int32) for n in [100] * 2000]
    out = list(upsample_long(iter(docs), threshold=50, factor=1.5, rng=rng))
    assert 2800 < len(out) < 3200  # 1.5 copies on average


def test_mixture_share_is_kept_after_upsampling():
    long_docs = iter([np.zeros(100, np.int32)] * 1000)  # source A: long documents, upsampled x4
    short_docs = iter([np.ones(10, np.int32)] * 10000)  # source B: short documents
    a = upsample_long(long_docs, threshold=50, factor=4.0, rng=np.random.default_rng(0))
    mixed = mix_by_tokens([a, short_docs], weights=[1.0, 3.0])
    tokens = Counter()
    for _ in range(2000):
        doc = next(mixed)
        tokens[int(doc[0])] += len(doc)
    assert tokens[0] / (tokens[0] + tokens[1]) == pytest.approx(0.25, abs=0.01)


def test_shuffle_buffer_is_a_permutation():
    items = [np.array([i]) for i in range(100)]
    out = [int(x[0]) for x in shuffle_buffered(iter(items), 10, np.random.default_rng(0))]
    assert sorted(out) == list(range(100)) and out != list(range(100))


def test_pack_documents_splits_long_docs_across_sequences():
    docs = [np.arange(1, 8, dtype=np.int32), np.arange(10, 12, dtype=np.int32)]
    seqs = [s.tolist() for s in pack_documents(iter(docs), 4, separator=0, keep_remainder=True)]
    assert seqs == [[1, 2, 3, 4], [5, 6, 7, 0], [10, 11, 0]]


def test_deterministic_and_seed_dependent(tmp_path):
    _corpus(tmp_path, [7, 20, 33, 4, 18, 25, 9, 11] * 4)
    tok = TokenizerAdapter(_tokenizer())

    def take(seed, n=6):
        cfg = TextDataConfig(sources=[TextSource(path=str(tmp_path))], seq_length=9, seed=seed, shuffle_buffer=8)
        s = TextStream(cfg, tok)
        return [next(s).tolist() for _ in range(n)]

    assert take(1) == take(1)
    assert take(1) != take(2)


def test_resume_from_state_continues_exactly_across_epochs(tmp_path):
    _corpus(tmp_path, [7, 20, 33, 4, 18])
    tok = TokenizerAdapter(_tokenizer())
    cfg = TextDataConfig(sources=[TextSource(path=str(tmp_path / "a.jsonl"))], seq_length=9, shuffle_buffer=3)
    ref = TextStream(cfg, tok)
    full = [next(ref).tolist() for _ in range(25)]  # ~9 sequences per epoch: crosses epochs
    assert ref.state_dict()["epoch"] >= 2
    first = TextStream(cfg, tok)
    head = [next(first).tolist() for _ in range(11)]
    state = json.loads(json.dumps(first.state_dict()))
    resumed = TextStream(cfg, tok)
    resumed.load_state_dict(state)
    tail = [next(resumed).tolist() for _ in range(14)]
    assert head + tail == full


def test_formats_txt_lines_parquet_and_two_source_mixture(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tok = TokenizerAdapter(_tokenizer())
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "one.txt").write_text("d1 w1 w2\nw3")
    (tmp_path / "txt" / "two.md").write_text("d2 w4")
    (tmp_path / "lines.txt").write_text("d3 w5\n\nd4 w6 w7\n")
    pq.write_table(pa.table({"body": ["d5 w8", "d6 w9 w9"]}), tmp_path / "p.parquet")
    sources = [
        TextSource(path="txt"),
        TextSource(path="lines.txt", format="lines"),
        TextSource(path="p.parquet", text_field="body"),
    ]
    cfg = TextDataConfig(sources=sources, root=str(tmp_path), seq_length=3)
    flat = np.concatenate(list(TextStream(cfg, tok).epoch_sequences(0, keep_remainder=True))).tolist()
    got = Counter(_split_on_sep(flat)[0])
    texts = ["d1 w1 w2\nw3", "d2 w4", "d3 w5", "d4 w6 w7", "d5 w8", "d6 w9 w9"]
    assert got == Counter(_ids(tok.tokenizer, t) for t in texts)


def test_bad_inputs_are_one_line_errors(tmp_path, monkeypatch):
    tok = TokenizerAdapter(_tokenizer())
    (tmp_path / "bad.jsonl").write_text('{"text": "d1"}\n{oops\n')
    (tmp_path / "nofield.jsonl").write_text('{"body": "d1"}\n')
    cases = [
        (TextSource(path="bad.jsonl"), "bad.jsonl:2"),
        (TextSource(path="nofield.jsonl"), "text_field"),
        (TextSource(path="missing.jsonl"), "does not exist"),
        (TextSource(path="../escape.jsonl"), "escapes"),
    ]
    for source, needle in cases:
        with pytest.raises(InputError) as e:
            cfg = TextDataConfig(sources=[source], root=str(tmp_path), seq_length=3)
            list(TextStream(cfg, tok).epoch_sequences(0))
        assert needle in str(e.value) and "\n" not in str(e.value)
    # Parquet without pyarrow names the `data` extra
    import pyarrow  # noqa: F401

    (tmp_path / "p.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(InputError, match=r"longva\[data\]"):
        list(TextStream(TextDataConfig(sources=[TextSource(path=str(tmp_path / "p.parquet"))]), tok).epoch_sequences(0))


def test_hf_disk_folder_needs_datasets(tmp_path):
    try:
        import datasets
    except ImportError:
        datasets = None
    folder = tmp_path / "ds"
    if datasets is None:
        folder.mkdir()
        (folder / "dataset_info.json").write_text("{}")
        with pytest.raises(InputError, match="datasets"):
            list(
                TextStream(
                    TextDataConfig(sources=[TextSource(path=str(folder))]), TokenizerAdapter(_tokenizer())
                ).epoch_sequences(0)
            )
    else:
        datasets.Dataset.from_dict({"text": ["d1 w1", "d2 w2 w3"]}).save_to_disk(str(folder))
        cfg = TextDataConfig(sources=[TextSource(path=str(folder))], seq_length=2)
        flat = np.concatenate(list(TextStream(cfg, TokenizerAdapter(_tokenizer())).epoch_sequences(0, True))).tolist()
        assert sorted(_split_on_sep(flat)[0]) == sorted([(3, 203), (4, 204, 205)])


def test_tokenizer_file_and_separator_choice(tmp_path):
    path = tmp_path / "tokenizer.json"
    _tokenizer().save(str(path))
    tok = load_tokenizer(path)
    assert tok.default_separator() == 0 and tok.separator_id("w0") == tok.token_id("w0")
    with pytest.raises(ConfigError, match="separator_token"):
        tok.separator_id("<nope>")
    with pytest.raises(InputError, match="tokenizer"):
        load_tokenizer(tmp_path / "missing.json")


def test_streaming_reads_only_what_it_needs(tmp_path, monkeypatch):
    """The first sequences come after reading a bounded number of documents, not the file."""
    import longva.data.text as text_mod

    rng = np.random.default_rng(0)
    (tmp_path / "big.jsonl").write_text(
        "".join(json.dumps({"text": _doc(i % 200, 20, rng)}) + "\n" for i in range(5000))
    )
    read = []
    original = text_mod.read_documents

    def counting(*args, **kwargs):
        for doc in original(*args, **kwargs):
            read.append(1)
            yield doc

    monkeypatch.setattr(text_mod, "read_documents", counting)
    cfg = TextDataConfig(
        sources=[TextSource(path=str(tmp_path / "big.jsonl"))], seq_length=40, shuffle_buffer=8, tokenize_batch=4
    )
    stream = TextStream(cfg, TokenizerAdapter(_tokenizer()))
    for _ in range(3):
        next(stream)
    assert len(read) <= 8 + 4 + 8  # shuffle buffer + one tokenizer batch + the docs packed so far
