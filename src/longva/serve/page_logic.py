"""What the page's controls do: the token budget shown before running, asking, the frame strip.

The page keeps one conversation per browser tab (`PageState`: the ChatHistory with the encoded
visuals of earlier turns, no KV cache, so an idle tab holds features only). A question goes
through the same queue and model thread as the API; the video/images are sent with the first
question, and again only when the user changes them or the sampling.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from longva.errors import LongVAError
from longva.inference.history import ChatHistory
from longva.model.encoding import image_token_count
from longva.serve.answering import Answer, Sampling, prepare_turn
from longva.serve.api_errors import APIError, Cancelled
from longva.serve.budget import turn_budget
from longva.serve.engine import Engine, Job
from longva.serve.media import MediaRef
from longva.serve.visual_prep import Framing, TurnVisuals, frame_count

STRIP_FRAMES = 8  # thumbnails shown of the sampled frames (one row)
THUMB_HEIGHT = 96
WAITING, GENERATING = "waiting for the model...", "generating..."
STOPPED = " [stopped; not kept in the conversation]"
STREAM_INTERVAL_S = 0.05  # the page is updated at most this often (a browser re-renders each)


@dataclass
class PageState:
    history: ChatHistory = field(default_factory=ChatHistory)
    sent: tuple | None = None  # the visuals + sampling already in the history


@dataclass
class StopControl:
    """The tab's running job, so Stop can cancel it from its own event. The answer's own event
    then reports the stop, in order with the pieces it already sent (cancelling the Gradio
    event instead would race with updates still on their way to the browser)."""

    job: Job | None = None

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel.set()


def media_of(video: str | None, images: list | None) -> list[MediaRef]:
    refs = [MediaRef("video", Path(video), Path(video).name)] if video else []
    for item in images or []:
        path = Path(item if isinstance(item, str | os.PathLike) else item.name)
        refs.append(MediaRef("image", path, path.name))
    return refs


def selection(video, images, mode: str, frames, fps) -> tuple:
    """What would be sent: the files and how the video is sampled."""
    return (
        video,
        tuple(str(m.path) for m in media_of(None, images)),
        mode,
        int(frames) if mode == "frames" else None,
        float(fps) if mode == "fps" else None,
    )


def framing_of(engine: Engine, mode: str, frames, fps) -> Framing:
    s = engine.settings
    if mode == "fps":
        return Framing.of(None, float(fps), s.default_frames, s.max_frames)
    return Framing.of(int(frames), None, s.default_frames, s.max_frames)


def budget_markdown(
    engine: Engine, state: PageState | None, video, images, mode, frames, fps, max_new
) -> str:
    """The visual-token count and whether the turn fits, from the timeline and image sizes only."""
    state = state or PageState()
    try:
        framing = framing_of(engine, mode, frames, fps)
        new = selection(video, images, mode, frames, fps) != state.sent
        counts, lines = visual_counts(engine, media_of(video, images) if new else [], framing)
        with engine.page_lock:  # Gradio runs these in a thread pool
            processor = engine.page_processor
            budget = turn_budget(processor, engine.context, state.history, "", counts, int(max_new))
    except (LongVAError, OSError) as e:
        return f"cannot read the input: {e}"
    if not new and state.sent is not None:
        lines.append("the video/images are already in the conversation")
    return "  \n".join([*lines, f"**{budget.describe()}**"])


def visual_counts(
    engine: Engine, media: list[MediaRef], framing: Framing
) -> tuple[list[int], list[str]]:
    """Visual tokens per video/image (nothing decoded) and a line describing each."""
    counts, lines = [], []
    for ref in media:
        if ref.kind == "video":
            n = frame_count(ref.path, framing)
            counts.append(n * engine.tokens_per_frame)
            cap = f" (more than the cap of {framing.max_frames})" if n > framing.max_frames else ""
            lines.append(
                f"video: {n} frames x {engine.tokens_per_frame} tokens = {counts[-1]:,}{cap}"
            )
        else:
            with Image.open(ref.path) as im:
                counts.append(image_token_count(engine.pipe.model.config, im.size))
            lines.append(f"image {ref.label}: {counts[-1]:,} tokens")
    return counts, lines


def strip_of(visuals: TurnVisuals) -> list[tuple[np.ndarray, str]]:
    """Up to STRIP_FRAMES thumbnails of the sampled frames, with their index in the video."""
    out = []
    for frames, indices in zip(visuals.samples, visuals.frames):
        picks = np.linspace(0, len(frames) - 1, min(STRIP_FRAMES, len(frames))).round().astype(int)
        for k in dict.fromkeys(picks.tolist()):
            image = Image.fromarray(frames[k])
            image.thumbnail((THUMB_HEIGHT * 4, THUMB_HEIGHT))
            out.append((np.asarray(image), f"#{indices[k]}"))
    return out


def timings_markdown(answer: Answer) -> str:
    r = answer.result
    t = r.timings
    rate = f"{r.new_tokens / t['generate']:.1f} tokens/s" if t.get("generate") else "n/a"
    return (
        f"decode {t['decode']:.2f} s · preprocess {t['preprocess']:.2f} s"
        f" · vision {t['encode']:.2f} s · prefill {t['prefill']:.2f} s"
        f" · generate {t['generate']:.2f} s"
        f" ({r.new_tokens} tokens, {rate}) · prompt {r.prompt_tokens:,} tokens"
    )


def with_text(message: dict, text: str) -> dict:
    """The message with `text` appended; Gradio hands messages back with their content as a
    list of parts, while the ones made here hold a plain string."""
    content = message["content"]
    if isinstance(content, str):
        return {**message, "content": content + text}
    return {**message, "content": [*content, {"type": "text", "text": text}]}


async def ask(
    engine: Engine,
    question: str,
    video,
    images,
    mode,
    frames,
    fps,
    max_new,
    temperature,
    top_p,
    chat: list | None,
    state: PageState | None,
    control: StopControl,
):
    """Yields (chat, strip or None, status, state) as the answer streams in."""
    chat, state = list(chat or []), state or PageState()
    if not (question or "").strip():
        yield chat, None, "type a question first", state
        return
    chosen = selection(video, images, mode, frames, fps)
    media = media_of(video, images) if chosen != state.sent else []
    sampling = Sampling(int(max_new), float(temperature), float(top_p))
    chat += [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
    yield chat, None, WAITING, state
    job = control.job = engine.job()

    async def stopped() -> bool:
        return job.cancel.is_set()

    try:
        job.admit()
        await job.ticket.turn(stopped)
        framing = framing_of(engine, mode, frames, fps)
        turn = await job.call(
            prepare_turn,
            engine.pipe,
            engine.context,
            state.history,
            question,
            media,
            framing,
            sampling,
            job.cancel,
            True,
        )
        yield chat, strip_of(turn.visuals) if media else None, GENERATING, state
        shown = time.monotonic()
        async for item in job.stream(turn, sampling):
            if isinstance(item, str):
                chat[-1] = with_text(chat[-1], item)
                if time.monotonic() - shown >= STREAM_INTERVAL_S:
                    shown = time.monotonic()
                    yield chat, None, GENERATING, state
            else:
                job.outcome = "completed"
                state = PageState(item.result.history, chosen)
                yield chat, None, timings_markdown(item), state
    except Cancelled:
        job.outcome = "cancelled"
        yield [*chat[:-1], with_text(chat[-1], STOPPED)], None, "stopped", state
    except (LongVAError, APIError) as e:
        chat[-1] = {"role": "assistant", "content": f"error: {e}"}
        yield chat, None, "error", state
    finally:
        job.close()
        if control.job is job:
            control.job = None
