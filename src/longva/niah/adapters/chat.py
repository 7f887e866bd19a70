"""The model's own chat template around one video and one question, split into pieces.

A transformers VLM folder carries its chat template (`chat_template.jinja`, `chat_template.json`
or the tokenizer's). Rendering a user turn `[video, text=MARKER]` with the generation prompt and
cutting the text at the video placeholder and at the marker gives exactly what the model sees:
`pre` (system prompt, user header, e.g. Qwen's `<|vision_start|>`), `mid` (between the video and
the question, e.g. LLaVA's "\\n" or Qwen's `<|vision_end|>`) and `post` (up to the answer).
"""

from __future__ import annotations

import json
from pathlib import Path

from longva.errors import CheckpointError

MARKER = "\x00QUESTION\x00"


def load_chat_template(model_dir: Path | None, tokenizer) -> str | None:
    """The folder's chat template (processor files first, then the tokenizer's)."""
    if model_dir is not None:
        jinja = model_dir / "chat_template.jinja"
        if jinja.is_file():
            return jinja.read_text(encoding="utf-8")
        js = model_dir / "chat_template.json"
        if js.is_file():
            return json.loads(js.read_text(encoding="utf-8")).get("chat_template")
    return getattr(tokenizer, "chat_template", None)


def split_template(
    tokenizer, template: str | None, video_token: str, where: str
) -> tuple[str, str, str]:
    """(pre, mid, post) strings around the video placeholder and the question."""
    if not template:
        raise CheckpointError(
            f"{where} has no chat template (chat_template.jinja/.json or the tokenizer's);"
            " expected the model's processor files"
        )
    conversation = [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": MARKER}]}
    ]
    text = tokenizer.apply_chat_template(
        conversation, chat_template=template, tokenize=False, add_generation_prompt=True
    )
    if text.count(video_token) != 1 or text.count(MARKER) != 1:
        raise CheckpointError(
            f"{where}: its chat template does not render one {video_token!r} before the question;"
            " expected a video chat template"
        )
    pre, rest = text.split(video_token)
    mid, post = rest.split(MARKER)
    return pre, mid, post
