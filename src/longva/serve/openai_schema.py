"""Request and response bodies of the OpenAI chat-completions API, as far as this server goes.

Content parts: `text`, `image_url` ({"url": ...}) and `video_url` ({"url": ...}, the name vLLM
and SGLang use). Extra request fields outside OpenAI's set: `num_frames` and `fps` (how a
video is sampled; the openai client sends them with `extra_body`). Unknown fields are ignored,
as OpenAI-compatible servers do; fields that would change the answer and are not supported
(`n` > 1, tools, logprobs, penalties) are refused by `openai_routes`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class URLField(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str
    detail: str | None = None


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ImagePart(BaseModel):
    type: Literal["image_url"]
    image_url: URLField


class VideoPart(BaseModel):
    type: Literal["video_url"]
    video_url: URLField


ContentPart = Annotated[TextPart | ImagePart | VideoPart, Field(discriminator="type")]


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    seed: int | None = None
    n: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    tools: list | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    num_frames: int | None = Field(None, ge=1)
    fps: float | None = Field(None, gt=0)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    longva: dict | None = None  # frames used, visual tokens, timings: what the answer cost


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    longva: dict | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "longva"
    longva: dict | None = None  # context length, tokens per frame, frame cap


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
