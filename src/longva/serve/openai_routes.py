"""`POST /v1/chat/completions`, `GET /v1/models[/{id}]`, `GET /health`.

A request is checked (auth, JSON, fields, model, messages, media paths) before it queues, so a
bad one never waits; then it takes a ticket (429 when the queue is full), waits for the model
while watching for a disconnect, prepares its visuals in the model thread (errors still get
their status code), and answers as JSON or as server-sent events.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from longva.errors import LongVAError
from longva.serve.answering import Answer, PreparedTurn, Sampling, answer_turn, prepare_plan
from longva.serve.api_errors import APIError, Cancelled
from longva.serve.budget import ContextExceeded
from longva.serve.engine import Engine, Job
from longva.serve.media import resolve_media
from longva.serve.messages import plan_conversation
from longva.serve.openai_schema import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    ModelCard,
    ModelList,
    Usage,
)
from longva.serve.slots import POLL_SECONDS
from longva.serve.visual_prep import Framing

MAX_STOP_STRINGS = 4  # as OpenAI
STARTED = int(time.time())


def openai_router(engine: Engine) -> APIRouter:
    router = APIRouter()
    settings = engine.settings

    @router.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": settings.name, "queue": engine.slots.snapshot()}

    @router.get("/v1/models")
    async def list_models(request: Request) -> dict:
        check_api_key(request, settings.api_key)
        return ModelList(data=[model_card(engine)]).model_dump()

    @router.get("/v1/models/{model_id}")
    async def get_model(model_id: str, request: Request) -> dict:
        check_api_key(request, settings.api_key)
        check_model(model_id, settings.name)
        return model_card(engine).model_dump()

    @router.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        check_api_key(request, settings.api_key)
        body = await parse_body(request)
        check_model(body.model, settings.name)
        job = engine.job()
        try:
            turn, sampling = await prepare_request(job, body, request)
        except Cancelled:  # the client left while queued or preparing
            job.close()
            return Response(status_code=499)
        except BaseException:
            job.close()
            raise
        meta = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model": settings.name,
        }
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            events = sse_events(job, turn, sampling, meta, include_usage)
            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            return JobStreamingResponse(
                job, events, media_type="text/event-stream", headers=headers
            )
        try:
            answer = await until_done_or_disconnected(job, turn, sampling, request)
            job.outcome = "completed"
        except Cancelled:
            job.outcome = "cancelled"
            return Response(status_code=499)  # nobody is listening any more
        finally:
            job.close()
        return JSONResponse(completion(answer, turn, meta).model_dump())

    @router.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown(rest: str) -> Response:
        raise APIError(
            404,
            f"/v1/{rest} is not an endpoint of this server; it serves"
            " /v1/chat/completions and /v1/models",
            code="unknown_url",
        )

    return router


async def prepare_request(
    job: Job, body: ChatCompletionRequest, request: Request
) -> tuple[PreparedTurn, Sampling]:
    """Check the request, queue it, and read its visuals once the model is free."""
    engine, settings = job.engine, job.engine.settings
    sampling = sampling_of(body, settings.max_new_tokens)
    framing = Framing.of(body.num_frames, body.fps, settings.default_frames, settings.max_frames)

    def resolve(url, kind, param):
        return resolve_media(url, kind, settings.allowed_root, job.scratch, param)

    image_token = engine.pipe.model.config.image_token
    plan = plan_conversation(body.messages, resolve, image_token, settings.max_visuals)
    job.admit()
    await job.ticket.turn(request.is_disconnected)
    turn = await job.call(
        prepare_plan, engine.pipe, engine.context, plan, framing, sampling, job.cancel
    )
    return turn, sampling


def check_api_key(request: Request, key: str | None) -> None:
    if key is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
        raise APIError(
            401,
            "missing or incorrect API key; send the header 'Authorization: Bearer <key>'"
            " with the key the server was started with (--api-key)",
            code="invalid_api_key",
        )


def check_model(name: str, served: str) -> None:
    if name != served:
        raise APIError(
            404,
            f"the model {name!r} does not exist on this server; it serves {served!r}",
            code="model_not_found",
            param="model",
        )


async def parse_body(request: Request) -> ChatCompletionRequest:
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise APIError(
            400, f"the request body is not valid JSON ({e}); expected a JSON object"
        ) from None
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise APIError(400, f"{where or 'body'}: {first['msg']}", param=where or None) from None


def sampling_of(body: ChatCompletionRequest, cap: int) -> Sampling:
    """Generation settings of a request; unsupported options are refused, not ignored."""
    if body.n not in (None, 1):
        raise APIError(
            400, f"n={body.n}; this server returns one choice per request (n=1)", param="n"
        )
    if body.logprobs or body.tools:
        name = "logprobs" if body.logprobs else "tools"
        raise APIError(
            400,
            f"{name} are not supported by this server; expected requests without them",
            param=name,
        )
    for name in ("frequency_penalty", "presence_penalty"):
        if getattr(body, name):
            raise APIError(
                400, f"{name} is not supported by this server; expected 0 or none", param=name
            )
    max_tokens = body.max_completion_tokens or body.max_tokens or cap
    if max_tokens > cap:
        raise APIError(
            400,
            f"max_tokens={max_tokens} is more than this server's cap of {cap}; ask for fewer",
            param="max_tokens",
        )
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stop) > MAX_STOP_STRINGS:
        raise APIError(
            400, f"{len(stop)} stop strings; expected at most {MAX_STOP_STRINGS}", param="stop"
        )
    return Sampling(max_tokens, body.temperature or 0.0, body.top_p or 1.0, body.seed, tuple(stop))


def model_card(engine: Engine) -> ModelCard:
    s = engine.settings
    info = {
        "context_length": engine.context,
        "tokens_per_frame": engine.tokens_per_frame,
        "max_frames": s.max_frames,
        "default_frames": s.default_frames,
        "max_new_tokens": s.max_new_tokens,
    }
    return ModelCard(id=s.name, created=STARTED, longva=info)


async def until_done_or_disconnected(
    job: Job, turn: PreparedTurn, sampling: Sampling, request: Request
) -> Answer:
    """Answer without streaming; a client that hangs up cancels the generation."""
    task = asyncio.ensure_future(
        job.call(answer_turn, job.engine.pipe, turn, sampling, None, job.cancel)
    )
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_SECONDS)
            if done:
                return task.result()
            if await request.is_disconnected():
                job.cancel.set()  # the worker raises Cancelled at its next token
    finally:
        if not task.done():
            task.cancel()


def usage_of(answer: Answer) -> Usage:
    r = answer.result
    return Usage(
        prompt_tokens=r.prompt_tokens,
        completion_tokens=r.new_tokens,
        total_tokens=r.prompt_tokens + r.new_tokens,
    )


def cost_of(answer: Answer, turn: PreparedTurn) -> dict:
    """What the answer cost: frames read, visual tokens, timings (seconds), tokens/s."""
    r = answer.result
    timings = {k: round(v, 4) for k, v in r.timings.items()}
    timings["history"] = round(turn.history_seconds, 4)
    rate = r.new_tokens / r.timings["generate"] if r.timings.get("generate") else None
    return {
        "frames_used": turn.visuals.frames,
        "visual_tokens": turn.budget.visual_tokens,
        "timings": timings,
        "tokens_per_second": round(rate, 2) if rate else None,
    }


def completion(answer: Answer, turn: PreparedTurn, meta: dict) -> ChatCompletion:
    choice = Choice(
        message=AssistantMessage(content=answer.text), finish_reason=answer.finish_reason
    )
    return ChatCompletion(
        **meta, choices=[choice], usage=usage_of(answer), longva=cost_of(answer, turn)
    )


def sse(obj) -> str:
    data = (
        obj.model_dump_json(exclude_none=True)
        if hasattr(obj, "model_dump_json")
        else json.dumps(obj)
    )
    return f"data: {data}\n\n"


async def sse_events(
    job: Job, turn: PreparedTurn, sampling: Sampling, meta: dict, include_usage: bool
):
    """The chunks of a streamed answer; an error after the stream began is an `error` event."""

    def chunk(delta: Delta, finish: str | None = None, **extra) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            **meta, choices=[ChunkChoice(delta=delta, finish_reason=finish)], **extra
        )

    yield sse(chunk(Delta(role="assistant", content="")))
    try:
        answer = None
        async for item in job.stream(turn, sampling):
            if isinstance(item, str):
                yield sse(chunk(Delta(content=item)))
            else:
                answer = item
        job.outcome = "completed"
        yield sse(chunk(Delta(), answer.finish_reason, longva=cost_of(answer, turn)))
        if include_usage:
            yield sse(ChatCompletionChunk(**meta, choices=[], usage=usage_of(answer)))
    except Cancelled:
        job.outcome = "cancelled"
        return
    except Exception as e:  # noqa: BLE001  (the status line is gone; the client reads the event)
        yield sse(api_error(e).body())
    yield "data: [DONE]\n\n"


def api_error(e: Exception) -> APIError:
    """Any error as an APIError: user errors are 400 (a prompt too long for the context has its
    own code), anything else 500."""
    if isinstance(e, APIError):
        return e
    if isinstance(e, Cancelled):
        return APIError(499, "the request was cancelled (the client went away)")
    if isinstance(e, ContextExceeded):
        return APIError(400, str(e), code="context_length_exceeded", param="messages")
    if isinstance(e, LongVAError):
        return APIError(400, str(e))
    return APIError(500, f"internal error ({type(e).__name__}); see the server log")


class JobStreamingResponse(StreamingResponse):
    """Closes its job however the response ends (finished, client gone, never started)."""

    def __init__(self, job: Job, content, **kwargs):
        super().__init__(content, **kwargs)
        self.job = job

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.job.close()
