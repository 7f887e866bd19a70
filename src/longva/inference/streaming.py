"""Turn generated token ids into text pieces as they come, without breaking characters.

Byte-level BPE splits a multi-byte character (é, ✓, most CJK) over several tokens; decoding a
lone token gives U+FFFD. Each piece is therefore the text added by the newest tokens, decoded
together with a little context before them (so SentencePiece-style leading spaces come out right
too), and held back while it ends in an incomplete character. The pieces join to exactly the
decoding of all tokens (`finish` emits whatever differs at the end).
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"  # what a tokenizer decodes an incomplete UTF-8 sequence to


class IncrementalDetokenizer:
    """`push(token_id) -> str` new text (maybe ""); `finish() -> str` the rest; `.text` so far."""

    def __init__(self, tokenizer, skip_special_tokens: bool = True):
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self.ids: list[int] = []
        self.emitted = ""
        # ids[prefix:read] is context already emitted; ids[read:] is not emitted yet
        self._prefix = 0
        self._read = 0

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=self.skip_special_tokens)

    def push(self, token_id: int) -> str:
        self.ids.append(int(token_id))
        before = self._decode(self.ids[self._prefix : self._read])
        after = self._decode(self.ids[self._prefix :])
        if len(after) <= len(before) or after.endswith(REPLACEMENT) or not after.startswith(before):
            return ""  # nothing new yet, or a character still incomplete
        piece = after[len(before) :]
        self._prefix, self._read = self._read, len(self.ids)
        self.emitted += piece
        return piece

    def finish(self) -> str:
        """The text not emitted yet (a dangling incomplete character is emitted as U+FFFD)."""
        full = self._decode(self.ids)
        if not full.startswith(self.emitted):  # context-dependent decoding disagreed; rare
            return ""
        piece = full[len(self.emitted) :]
        self.emitted = full
        self._prefix = self._read = len(self.ids)
        return piece

    @property
    def text(self) -> str:
        return self._decode(self.ids)
