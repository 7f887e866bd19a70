"""OpenAI `messages` -> a conversation plan: system text, earlier turns, the question.

    [system/developer]* (user+ assistant+)* user+      (consecutive messages of a role are joined)

Each user turn keeps its text and its visuals in the order of the content parts; earlier turns'
visuals are encoded again for every request (the API is stateless), and each visual takes one
`<image>` placeholder in front of its turn's text, as in training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from longva.serve.api_errors import APIError
from longva.serve.media import Kind, MediaRef
from longva.serve.openai_schema import ImagePart, Message, TextPart, VideoPart

Resolver = Callable[[str, Kind, str], MediaRef]  # (url, kind, param name) -> local file


@dataclass
class UserTurn:
    text: str = ""
    media: list[MediaRef] = field(default_factory=list)


@dataclass
class ConversationPlan:
    system: str | None
    turns: list[tuple[UserTurn, str]]  # earlier (question, answer) pairs
    question: UserTurn

    @property
    def visual_count(self) -> int:
        return len(self.question.media) + sum(len(u.media) for u, _ in self.turns)


def plan_conversation(
    messages: list[Message], resolve: Resolver, image_token: str, max_visuals: int
) -> ConversationPlan:
    """Check the message order and contents; resolve every visual (403/400 on a bad one)."""
    system_parts: list[str] = []
    i = 0
    while i < len(messages) and messages[i].role in ("system", "developer"):
        system_parts.append(_text_only(messages[i], i))
        i += 1
    blocks = _role_blocks(messages, i)
    if not blocks or blocks[-1][0] != "user":
        raise APIError(
            400,
            "the last message must come from the user; expected the question last",
            param="messages",
        )
    if blocks[0][0] != "user":
        raise APIError(
            400,
            f"messages[{i}] is an assistant message before any user message;"
            " expected the conversation to start with the user",
            param="messages",
        )
    turns = []
    for b in range(0, len(blocks) - 1, 2):
        user = _user_turn(blocks[b][1], messages, resolve, image_token)
        answer = "\n".join(_text_only(messages[k], k) for k in blocks[b + 1][1])
        turns.append((user, answer))
    question = _user_turn(blocks[-1][1], messages, resolve, image_token)
    if not question.text.strip():
        raise APIError(
            400, f"messages[{blocks[-1][1][-1]}] has no text; expected a question", param="messages"
        )
    plan = ConversationPlan("\n\n".join(system_parts) or None, turns, question)
    if plan.visual_count > max_visuals:
        raise APIError(
            400,
            f"the request has {plan.visual_count} images/videos, more than this server's"
            f" cap of {max_visuals}; send fewer",
            param="messages",
        )
    return plan


def _role_blocks(messages: list[Message], start: int) -> list[tuple[str, list[int]]]:
    """Runs of consecutive user / assistant messages: [(role, [indices])]."""
    blocks: list[tuple[str, list[int]]] = []
    for k in range(start, len(messages)):
        role = messages[k].role
        if role in ("system", "developer"):
            raise APIError(
                400,
                f"messages[{k}] is a {role} message after the conversation started;"
                " expected system messages first",
                param=f"messages[{k}]",
            )
        if blocks and blocks[-1][0] == role:
            blocks[-1][1].append(k)
        else:
            blocks.append((role, [k]))
    return blocks


def _user_turn(
    indices: list[int], messages: list[Message], resolve: Resolver, image_token: str
) -> UserTurn:
    turn = UserTurn()
    texts: list[str] = []
    for k in indices:
        content = messages[k].content
        parts = (
            [TextPart(type="text", text=content)] if isinstance(content, str) else (content or [])
        )
        for j, part in enumerate(parts):
            where = f"messages[{k}].content[{j}]"
            if isinstance(part, TextPart):
                texts.append(_checked_text(part.text, image_token, where))
            elif isinstance(part, ImagePart):
                turn.media.append(resolve(part.image_url.url, "image", f"{where}.image_url.url"))
            elif isinstance(part, VideoPart):
                turn.media.append(resolve(part.video_url.url, "video", f"{where}.video_url.url"))
    turn.text = "\n".join(t for t in texts if t)
    return turn


def _text_only(message: Message, k: int) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    texts = []
    for j, part in enumerate(message.content):
        if not isinstance(part, TextPart):
            raise APIError(
                400,
                f"messages[{k}].content[{j}] is an {part.type} part in a {message.role} message;"
                " expected images and videos in user messages only",
                param=f"messages[{k}]",
            )
        texts.append(part.text)
    return "\n".join(texts)


def _checked_text(text: str, image_token: str, where: str) -> str:
    if image_token in text:
        raise APIError(
            400,
            f"{where} contains the reserved {image_token} token; send images and videos"
            " as image_url / video_url parts",
            param=where,
        )
    return text
