"""The work done in the model's thread for one turn: prepare (read, check the budget), answer.

    turn = prepare_turn(pipe, context, history, question, media, framing, sampling, cancel)
    answer = answer_turn(pipe, turn, sampling, on_piece, cancel)   # on_piece gets text as it comes

Both check `cancel` (a threading.Event set when the client goes away or the user presses
stop); answering checks it at every generated piece, so a cancelled generation stops within a
token. Prefill of a long prompt is not interrupted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from longva.inference.conversation import ChatResult
from longva.inference.generation import encode_visuals
from longva.inference.history import ChatHistory, Turn
from longva.serve.api_errors import Cancelled
from longva.serve.budget import Budget, ContextExceeded, turn_budget, visual_token_count
from longva.serve.media import MediaRef
from longva.serve.messages import ConversationPlan
from longva.serve.stops import StopStrings
from longva.serve.visual_prep import Framing, TurnVisuals, prepare_media


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int
    temperature: float = 0.0  # greedy unless asked
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass
class PreparedTurn:
    history: ChatHistory
    question: str
    visuals: TurnVisuals
    budget: Budget
    history_seconds: float = 0.0  # reading and encoding the visuals of earlier turns (API)


@dataclass
class Answer:
    text: str  # up to the first stop string
    finish_reason: str  # "stop" or "length"
    result: ChatResult  # counts and timings of the turn


def check(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise Cancelled("cancelled")


def prepare_turn(
    pipe,
    context: int | None,
    history: ChatHistory,
    question: str,
    media: Sequence[MediaRef],
    framing: Framing,
    sampling: Sampling,
    cancel: threading.Event,
    keep_frames: bool = False,
) -> PreparedTurn:
    """Read this turn's visuals and check that everything fits the context (ContextExceeded)."""
    check(cancel)
    visuals = prepare_media(pipe.processor, media, framing, keep_frames)
    counts = [visual_token_count(pipe.model.config, v) for v in visuals.prepared.inputs]
    budget = turn_budget(
        pipe.processor, context, history, question, counts, sampling.max_new_tokens
    )
    if not budget.fits:
        raise ContextExceeded(budget)
    return PreparedTurn(history, question, visuals, budget)


def prepare_plan(
    pipe,
    context: int | None,
    plan: ConversationPlan,
    framing: Framing,
    sampling: Sampling,
    cancel: threading.Event,
) -> PreparedTurn:
    """An API request: rebuild the history from the messages, then prepare the question."""
    t0 = time.perf_counter()
    history = ChatHistory(system=plan.system)
    for user, answer in plan.turns:
        check(cancel)
        visuals = prepare_media(pipe.processor, user.media, framing).prepared
        features = encode_visuals(pipe.model, visuals.inputs)  # [(tokens, D)]
        question = pipe.processor.build_messages(user.text, len(features))[-1][1]
        history = history.then(Turn(question, answer, tuple(visuals.sources)), features, None)
    seconds = time.perf_counter() - t0
    turn = prepare_turn(
        pipe, context, history, plan.question.text, plan.question.media, framing, sampling, cancel
    )
    turn.history_seconds = seconds
    return turn


def answer_turn(
    pipe,
    turn: PreparedTurn,
    sampling: Sampling,
    on_piece: Callable[[str], None] | None,
    cancel: threading.Event,
) -> Answer:
    """Generate the answer; pieces go to on_piece (stop strings held back and cut)."""
    check(cancel)
    stops = StopStrings(sampling.stop)

    def callback(piece: str) -> bool:
        check(cancel)
        text = stops.push(piece)
        if text and on_piece is not None:
            on_piece(text)
        return stops.hit  # True ends generation: the rest would be cut anyway

    result = pipe.chat(
        turn.question,
        visuals=turn.visuals.prepared,
        history=turn.history,
        callback=callback,
        max_new_tokens=sampling.max_new_tokens,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        seed=sampling.seed,
    )
    rest = stops.finish()
    if rest and on_piece is not None:
        on_piece(rest)
    return Answer(stops.text, "stop" if stops.hit else result.finish_reason, result)
