"""Read text documents lazily from local sources, and load a tokenizer.

Formats (`TextSource.format`, "auto" picks by extension / folder content):
- `txt`     one document per file (`.txt`, `.md`)
- `lines`   one document per non-empty line
- `jsonl`   one JSON object per line, the document in `text_field` (`.jsonl`, `.json`)
- `parquet` the `text_field` column, read in record batches (needs pyarrow: the `data` extra)
- `hf_disk` a `datasets` folder written by `save_to_disk` (needs the `datasets` package)
A source path may be a file or a folder (all matching files below it, in sorted order), so a
corpus larger than RAM is read one file / record batch at a time.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from longva.errors import ConfigError, InputError
from longva.utils.io import safe_join

Format = Literal["auto", "txt", "lines", "jsonl", "parquet", "hf_disk"]
_EXTENSIONS = {".txt": "txt", ".md": "txt", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


@dataclass
class TextSource:
    """One corpus of the mixture."""

    path: str
    format: Format = "auto"
    text_field: str = "text"
    weight: float | None = None  # token share in the mixture; None = proportional to bytes on disk
    name: str | None = None  # for logs; defaults to the path

    def validate(self, where: str) -> None:
        if self.weight is not None and self.weight <= 0:
            raise ConfigError(f"{where}.weight: must be > 0, got {self.weight}")

    @property
    def label(self) -> str:
        return self.name or self.path


def resolve_source_path(source: TextSource, root: str | None) -> Path:
    """The source's path, inside `root` when a data root is configured."""
    path = safe_join(root, source.path, what="data source") if root else Path(source.path)
    if not path.exists():
        raise InputError(f"data source {source.path!r} does not exist; expected a file or folder of text data")
    return path


def _is_hf_disk(path: Path) -> bool:
    return path.is_dir() and any((path / n).exists() for n in ("dataset_info.json", "state.json", "dataset_dict.json"))


def source_files(source: TextSource, path: Path) -> list[tuple[Path, str]]:
    """(file, format) pairs of a source in sorted order; an hf_disk folder is one entry.

    In a folder, format "auto" takes the files with a known extension; an explicit format takes
    every non-hidden file.
    """
    if source.format == "hf_disk" or (source.format == "auto" and _is_hf_disk(path)):
        return [(path, "hf_disk")]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    else:
        files = [path]
    out = []
    for file in files:
        fmt = source.format if source.format != "auto" else _EXTENSIONS.get(file.suffix.lower())
        if fmt is not None:
            out.append((file, fmt))
    if not out:
        raise InputError(
            f"data source {source.path!r} holds no readable file; expected {', '.join(sorted(_EXTENSIONS))}"
            " files, a datasets folder, or an explicit format"
        )
    return out


def source_bytes(files: list[tuple[Path, str]]) -> int:
    """Bytes on disk of a source: the default weight of a source in the mixture."""
    total = 0
    for file, _ in files:
        if file.is_dir():
            total += sum(p.stat().st_size for p in file.rglob("*") if p.is_file())
        else:
            total += file.stat().st_size
    return max(total, 1)


def read_documents(file: Path, fmt: str, text_field: str = "text") -> Iterator[str]:
    """Yield the documents of one file lazily."""
    readers = {
        "txt": _read_txt,
        "lines": _read_lines,
        "jsonl": _read_jsonl,
        "parquet": _read_parquet,
        "hf_disk": _read_hf_disk,
    }
    yield from readers[fmt](file, text_field)


def _read_txt(file: Path, text_field: str) -> Iterator[str]:
    text = file.read_text(encoding="utf-8", errors="replace")
    if text.strip():
        yield text


def _read_lines(file: Path, text_field: str) -> Iterator[str]:
    with open(file, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                yield line.rstrip("\n")


def _read_jsonl(file: Path, text_field: str) -> Iterator[str]:
    with open(file, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{file}:{n}: not valid JSON ({e.msg}); expected one JSON object per line") from None
            yield _field(record, text_field, f"{file}:{n}")


def _field(record: Any, text_field: str, where: str) -> str:
    if not isinstance(record, dict) or text_field not in record:
        raise InputError(f"{where}: no {text_field!r} field; set the source's text_field to the field holding the text")
    value = record[text_field]
    if not isinstance(value, str):
        raise InputError(f"{where}: field {text_field!r} is {type(value).__name__}; expected a string")
    return value


def _optional(module: str, where: Path, needs: str):
    """An optional dependency, or a one-line error naming the file and what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"{where}: {needs}") from None


def _check_column(where: Path, text_field: str, columns: list[str]) -> None:
    if text_field not in columns:
        raise InputError(f"{where}: no column {text_field!r} (columns: {', '.join(columns)}); set text_field")


def _non_empty(values: Iterator) -> Iterator[str]:
    return (value for value in values if value)


def _read_parquet(file: Path, text_field: str) -> Iterator[str]:
    needs = "reading Parquet needs pyarrow; install the data extra: pip install 'longva[data]'"
    pq = _optional("pyarrow.parquet", file, needs)
    pf = pq.ParquetFile(file)
    _check_column(file, text_field, pf.schema_arrow.names)
    batches = pf.iter_batches(batch_size=256, columns=[text_field])
    yield from _non_empty(value for batch in batches for value in batch.column(0).to_pylist())


def _read_hf_disk(path: Path, text_field: str) -> Iterator[str]:
    needs = "reading a datasets folder needs the `datasets` package; pip install datasets"
    datasets = _optional("datasets", path, needs)
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        raise InputError(f"{path}: is a DatasetDict with splits {list(ds)}; point the source at one split's folder")
    _check_column(path, text_field, ds.column_names)
    batches = ds.select_columns([text_field]).iter(batch_size=256)
    yield from _non_empty(value for batch in batches for value in batch[text_field])


class TokenizerAdapter:
    """One `encode_batch` over a `tokenizers.Tokenizer` or a transformers tokenizer."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._is_fast_lib = hasattr(tokenizer, "encode_batch") and hasattr(tokenizer, "token_to_id")

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        if self._is_fast_lib:
            return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def token_id(self, token: str) -> int | None:
        if self._is_fast_lib:
            return self.tokenizer.token_to_id(token)
        tid = self.tokenizer.convert_tokens_to_ids(token)
        return None if tid is None or tid == getattr(self.tokenizer, "unk_token_id", object()) else tid

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size() if self._is_fast_lib else len(self.tokenizer)

    def default_separator(self) -> int:
        """`<|endoftext|>` (Qwen's document separator) if known, else BOS, else EOS."""
        candidates = ["<|endoftext|>"]
        if not self._is_fast_lib:
            candidates += [self.tokenizer.bos_token, self.tokenizer.eos_token]
        candidates += ["<s>", "</s>", "<bos>", "<eos>"]
        for token in candidates:
            if token and (tid := self.token_id(token)) is not None:
                return tid
        raise ConfigError("data.separator_token: the tokenizer has no <|endoftext|>/BOS/EOS token; set separator_token")

    def separator_id(self, separator: str | int | None) -> int:
        if separator is None:
            return self.default_separator()
        if isinstance(separator, int):
            return separator
        tid = self.token_id(separator)
        if tid is None:
            raise ConfigError(f"data.separator_token: {separator!r} is not a token of the tokenizer")
        return tid


def load_tokenizer(path: str | os.PathLike) -> TokenizerAdapter:
    """A `tokenizer.json` file (tokenizers) or a local transformers tokenizer folder."""
    path = Path(path)
    if path.is_file():
        from tokenizers import Tokenizer

        try:
            return TokenizerAdapter(Tokenizer.from_file(str(path)))
        except Exception as e:  # noqa: BLE001 - any parse failure is a bad input file
            raise InputError(
                f"tokenizer {str(path)!r} cannot be read ({type(e).__name__}); expected a tokenizer.json"
            ) from None
    if not path.is_dir():
        raise InputError(f"tokenizer {str(path)!r} does not exist; expected a tokenizer.json or a tokenizer folder")
    from transformers import AutoTokenizer

    try:
        return TokenizerAdapter(AutoTokenizer.from_pretrained(str(path), local_files_only=True))
    except Exception as e:  # noqa: BLE001
        raise InputError(
            f"tokenizer folder {str(path)!r} cannot be loaded ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
        ) from None
