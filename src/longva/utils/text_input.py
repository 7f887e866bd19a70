"""The one way text comes in: arguments, stdin, text files and JSON/YAML files, as strict UTF-8.

Invalid UTF-8 is a one-line `InputError` naming the input, the byte and its offset, never a
`UnicodeDecodeError` traceback, and never silently replaced: a question or a config with a
garbled byte would otherwise run as something the user did not write. A file with a NUL byte is
binary (a video, a weights file) and is refused where text is expected.

Arguments: Python decodes `argv` with `surrogateescape`, so a byte that is not UTF-8 reaches a
command as a lone surrogate (U+DC80..U+DCFF); `text_arg` finds it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from longva.errors import InputError
from longva.utils.paths import input_file

_BINARY_PROBE = 8192  # bytes looked at for a NUL


def decode_text(data: bytes, what: str) -> str:
    """`data` as UTF-8 text (a BOM is dropped); one-line error naming `what` otherwise."""
    nul = data.find(b"\0", 0, _BINARY_PROBE)
    if nul >= 0:
        raise InputError(f"{what} is binary (a NUL byte at offset {nul}); expected UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(
            f"{what} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); expected UTF-8 text"
        ) from None


def text_arg(value: str, what: str) -> str:
    """A command-line string: refuse the bytes that were not UTF-8 (lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        char = ord(value[e.start])
        byte = f"byte 0x{char - 0xDC00:02x}" if 0xDC80 <= char <= 0xDCFF else f"character U+{char:04X}"
        raise InputError(f"{what} is not UTF-8 text ({byte} at character {e.start}); expected UTF-8 text") from None
    return value


def read_text(path: str | os.PathLike, what: str, expected: str = "a UTF-8 text file") -> str:
    """A text file's content (it must exist, be a file, and be UTF-8 text)."""
    path = input_file(path, what, expected)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{what} {str(path)!r} cannot be read ({e.strerror}); expected {expected}") from None
    return decode_text(data, f"{what} {str(path)!r}")


def read_json(path: str | os.PathLike, what: str, kind: type = dict, expected: str | None = None) -> Any:
    """A JSON file whose top level is a `kind` (dict: an object, list: an array)."""
    path = Path(path)
    shape = {dict: "a JSON object", list: "a JSON array"}.get(kind, kind.__name__)
    expected = expected or f"a UTF-8 JSON file holding {shape}"
    text = read_text(path, what, expected)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{what} {str(path)!r} is not valid JSON ({e.msg} at line {e.lineno}); expected {expected}"
        ) from None
    check_kind(data, kind, f"{what} {str(path)!r}", expected)
    return data


def check_kind(data: Any, kind: type, what: str, expected: str) -> Any:
    """`data` (parsed JSON/YAML) must be a `kind` at the top level."""
    if not isinstance(data, kind):
        raise InputError(f"{what} holds {_describe(data)}; expected {expected}")
    return data


def _describe(data: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", type(None): "nothing (null)", bool: "a boolean"}
    return names.get(type(data), f"a {type(data).__name__}")


def stdin_lines(stream: IO | None = None, what: str = "stdin") -> Iterator[str]:
    """Lines of stdin (without the newline), each strictly decoded; the offset counts from the start."""
    stream = stream or sys.stdin
    raw = getattr(stream, "buffer", None)
    offset = 0
    while True:
        line = raw.readline() if raw is not None else stream.readline()
        if not line:
            return
        if isinstance(line, bytes):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                at = offset + e.start
                raise InputError(
                    f"{what} is not UTF-8 text (byte 0x{line[e.start]:02x} at offset {at}); expected UTF-8 lines"
                ) from None
            offset += len(line)
            line = text
        yield line.rstrip("\r\n")
