"""Text helpers shared by the plan parsers: decoding, mojibake repair, splitting, literals.

Mojibake: the seed plans are UTF-8 files whose emoji were once decoded as cp1252 and saved
again (`🧠` -> `ðŸ§ `). Encoding back to cp1252 and decoding as UTF-8 undoes that exactly, but
cp1252 cannot encode everything (real non-Latin text, or the five bytes cp1252 leaves undefined),
so the repair falls back to fixing each suspicious run separately and leaves a run alone when
it does not round-trip.
"""

from __future__ import annotations

import ast
import re
from typing import Any

_MOJIBAKE_MARKERS = ("ðŸ", "Ã", "â€")
# Characters a cp1252 decode can produce from bytes 0x80-0xFF (plus C1 controls, which some
# decoders emit for the five undefined bytes).
_CP1252_HIGH = "".join(bytes([b]).decode("cp1252", errors="ignore") for b in range(0x80, 0x100))
_RUN = re.compile("[" + re.escape(_CP1252_HIGH) + "\u0080-\u009f]+")


def decode_bytes(data: bytes) -> str:
    """UTF-8 (BOM tolerated); a file that is not UTF-8 is read as cp1252 (never fails)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def repair_mojibake(text: str) -> str:
    """Undo a UTF-8 -> cp1252 mis-decoding when the text shows its typical markers."""
    if not any(m in text for m in _MOJIBAKE_MARKERS):
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return _RUN.sub(_repair_run, text)


def _repair_run(match: re.Match) -> str:
    run = match.group(0)
    try:
        raw = b"".join(_cp1252_byte(c) for c in run)
        return raw.decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return run


def _cp1252_byte(char: str) -> bytes:
    if 0x80 <= ord(char) <= 0x9F:  # C1 control standing for an undefined cp1252 byte
        return bytes([ord(char)])
    return char.encode("cp1252")


_OPEN, _CLOSE = "([{", ")]}"


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside (), [] and {} (unbalanced closers are tolerated); pieces stripped."""
    pieces, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
        elif char == sep and depth == 0:
            pieces.append(text[start:i].strip())
            start = i + 1
    pieces.append(text[start:].strip())
    return pieces


# A fragment that is only a unit or symbol cannot be a metric on its own: the ", ".join that
# rendered the metrics line split a name like "Success, %" and the fragment belongs to the
# previous metric.
_UNIT_ONLY = re.compile(r"^(?:%|\(%\)|[↑↓]|\((?:mm|cm|m|s|ms|sec|px|db|dB|%)\)|mm|cm|ms|px|dB|db|sec)$")


def split_metrics(line: str) -> list[str]:
    """A rendered metrics line -> metric names (paren-aware; unit fragments re-joined; de-duplicated)."""
    merged: list[str] = []
    for piece in split_top_level(line):
        if not piece:
            continue
        if merged and _UNIT_ONLY.match(piece):
            merged[-1] = f"{merged[-1]}, {piece}"
        else:
            merged.append(piece)
    out: list[str] = []
    for name in merged:
        if name not in out:
            out.append(name)
    return out


_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")


def literal_item(text: str) -> Any:
    """Undo the renderer's `str(item)`: numbers, lists and dicts come back as Python values.

    Everything else stays the original string: `True`/`None` (too likely to be words), sets
    such as `{sin, cos, tan}` (not a literal) and `{1, 2}` (a set cannot come from JSON, so the
    plan wrote it as text).
    """
    stripped = text.strip()
    if _NUMBER.match(stripped):
        return int(stripped) if re.fullmatch(r"[-+]?\d+", stripped) else float(stripped)
    if stripped[:1] in "[{" and stripped[-1:] in "]}":
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return text
        if isinstance(value, (list, dict)):
            return value
    return text
