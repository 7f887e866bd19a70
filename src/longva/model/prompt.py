"""Chat templates, `<image>` placeholders and training label masks.

A prompt is a list of *segments* `(text, supervised)`. The same segment list is tokenised for
inference and for training, so the two tokenisations agree by construction; `supervised` marks
the tokens that keep their label (the rest get IGNORE_INDEX).

`qwen_1_5` is LongVA's ChatML template (dossier §2.4):
    <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n
    <|im_start|>user\n<image>\n{q}<|im_end|>\n<|im_start|>assistant\n
Its masks follow the original `preprocess_qwen`: system and user turns are ignored except their
`<|im_start|>`, `<|im_end|>` and trailing "\n"; in assistant turns the role words are ignored and
the answer, `<|im_end|>` and "\n" are supervised.

Each `<image>` in a message becomes one IMAGE_TOKEN_INDEX (-200) id, whatever the number of
visual tokens it stands for (one placeholder per image or per video, as the original). Note: the
original training code tokenised "<image>\\n{q}" as [-200, "\\n", "\\n{q}"] (an extra newline
compared with inference); we tokenise training and inference identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from longva.errors import InputError

IMAGE_TOKEN_INDEX = -200
IGNORE_INDEX = -100
IMAGE_TOKEN = "<image>"

Segment = tuple[str, bool]


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    prefix: str  # text before everything (e.g. a BOS string)
    system: str | None  # default system message (None: no system turn)
    turn_open: dict[str, str] = field(default_factory=dict)  # role -> header text
    open_supervised: str = ""  # part of the header that stays supervised (ChatML <|im_start|>)
    turn_close: str = ""  # end of every turn
    close_overrides: dict[str, str] = field(default_factory=dict)  # role -> a different turn end
    close_supervised_roles: tuple[str, ...] = ()  # roles whose turn_close keeps its labels
    stop: str = ""  # generation stops at this string

    def turn(self, role: str, content: str) -> list[Segment]:
        header = self.turn_open[role]
        segs: list[Segment] = []
        if self.open_supervised and header.startswith(self.open_supervised):
            segs.append((self.open_supervised, True))
            header = header[len(self.open_supervised) :]
        if role == "assistant":
            segs += [(header, False), (content, True)]
        else:
            segs.append((header + content, False))
        close = self.close_overrides.get(role, self.turn_close)
        segs.append((close, role in self.close_supervised_roles))
        return segs

    def segments(
        self, messages: list[tuple[str, str]], add_generation_prompt: bool, system: str | None = None
    ) -> list[Segment]:
        """Segments of a whole conversation; `messages` = [(role, text)], role user/assistant."""
        segs: list[Segment] = [(self.prefix, False)] if self.prefix else []
        system = self.system if system is None else system
        if system is not None and "system" in self.turn_open:
            segs += self.turn("system", system)
        for role, content in messages:
            if role not in ("user", "assistant"):
                raise InputError(f"message role {role!r} is not supported; expected user or assistant")
            segs += self.turn(role, content)
        if add_generation_prompt:
            segs.append((self.turn_open["assistant"], False))
        return [s for s in segs if s[0]]

    def render(self, messages, add_generation_prompt=True, system=None) -> str:
        return "".join(t for t, _ in self.segments(messages, add_generation_prompt, system))


QWEN_1_5 = ChatTemplate(
    name="qwen_1_5",
    prefix="",
    system="You are a helpful assistant.",
    turn_open={
        "system": "<|im_start|>system\n",
        "user": "<|im_start|>user\n",
        "assistant": "<|im_start|>assistant\n",
    },
    open_supervised="<|im_start|>",
    turn_close="<|im_end|>\n",
    close_supervised_roles=("system", "user", "assistant"),
    stop="<|im_end|>",
)

LLAMA_3 = ChatTemplate(
    name="llama_3",
    prefix="<|begin_of_text|>",
    system=(
        "You are a helpful language and vision assistant. You are able to understand the visual"
        " content that the user provides, and assist the user with a variety of tasks using"
        " natural language."
    ),
    turn_open={
        "system": "<|start_header_id|>system<|end_header_id|>\n\n",
        "user": "<|start_header_id|>user<|end_header_id|>\n\n",
        "assistant": "<|start_header_id|>assistant<|end_header_id|>\n\n",
    },
    turn_close="<|eot_id|>",
    close_supervised_roles=("assistant",),
    stop="<|eot_id|>",
)

# LLaVA pretraining ("plain"): "<image>" + caption + "\n", loss on the caption only.
PLAIN = ChatTemplate(
    name="plain", prefix="", system=None,
    turn_open={"user": "", "assistant": ""}, turn_close="\n", close_overrides={"user": ""},
    close_supervised_roles=("assistant",), stop="\n",
)

TEMPLATES = {t.name: t for t in (QWEN_1_5, LLAMA_3, PLAIN)}


def get_template(name: str) -> ChatTemplate:
    if name not in TEMPLATES:
        raise InputError(f"chat template {name!r} is unknown; expected one of {', '.join(TEMPLATES)}")
    return TEMPLATES[name]


def tokenize_with_images(text: str, tokenizer, image_token: str = IMAGE_TOKEN) -> list[int]:
    """Tokenise `text`, replacing each `image_token` by one IMAGE_TOKEN_INDEX id."""
    ids: list[int] = []
    for i, chunk in enumerate(text.split(image_token)):
        if i:
            ids.append(IMAGE_TOKEN_INDEX)
        if chunk:
            ids += tokenizer.encode(chunk, add_special_tokens=False)
    return ids


def encode_segments(segments: list[Segment], tokenizer, image_token: str = IMAGE_TOKEN) -> tuple[list[int], list[int]]:
    """Token ids and labels (IGNORE_INDEX where unsupervised; visual placeholders never supervised)."""
    ids: list[int] = []
    labels: list[int] = []
    for text, supervised in segments:
        seg_ids = tokenize_with_images(text, tokenizer, image_token)
        ids += seg_ids
        labels += [t if supervised and t != IMAGE_TOKEN_INDEX else IGNORE_INDEX for t in seg_ids]
    return ids, labels


def normalise_conversation(conversation: list[dict]) -> list[tuple[str, str]]:
    """LLaVA records use {"from": "human"|"gpt", "value"}; chat APIs {"role", "content"}."""
    roles = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
    out = []
    for i, turn in enumerate(conversation):
        role = turn.get("from", turn.get("role"))
        text = turn.get("value", turn.get("content"))
        if role not in roles or not isinstance(text, str):
            raise InputError(
                f"conversation turn {i} has role {role!r}; expected from/role human|gpt|user|assistant with a text "
                "value"
            )
        out.append((roles[role], text))
    if out and out[0][0] != "user":  # the original drops a leading non-human turn
        out = out[1:]
    return out


def move_image_first(text: str, image_token: str = IMAGE_TOKEN) -> str:
    """LLaVA `preprocess_multimodal`: a single <image> goes to the front, followed by a newline."""
    if text.count(image_token) != 1 or text.startswith(image_token + "\n"):
        return text
    return image_token + "\n" + text.replace(image_token, "").strip()
