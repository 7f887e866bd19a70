"""The web page (Gradio Blocks), mounted on the same app as the API.

    [Video | Images tabs]                         [strip of sampled frames         ]
    [frames / fps; budget: tokens, "fits"]        [conversation, streamed answer   ]
    [answer settings]                             [question] [Send] [Stop] [Clear]
    [bundled examples]                            [timings                         ]

Fonts are the system's (no web fonts are fetched); analytics are off.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from longva.serve.engine import Engine
from longva.serve.examples import Example
from longva.serve.page_logic import STRIP_FRAMES, PageState, StopControl, ask, budget_markdown

CSS = """
#strip .grid-container {
  grid-template-columns: repeat(var(--grid-cols), minmax(0, 1fr)) !important;
}
#strip .grid-wrap { padding-top: 28px; }
footer { display: none !important; }
"""
STATE_TTL_S = 3600  # a closed tab's conversation (its encoded visuals) is dropped after this


def theme() -> gr.themes.Base:
    return gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "monospace"],
    )


def build_page(engine: Engine, examples: list[Example]) -> gr.Blocks:
    with gr.Blocks(title=f"LongVA · {engine.settings.name}", analytics_enabled=False) as page:
        gr.Markdown(header(engine))
        ui = SimpleNamespace(
            state=gr.State(PageState(), time_to_live=STATE_TTL_S),
            control=gr.State(StopControl(), time_to_live=STATE_TTL_S),
        )
        with gr.Row():
            with gr.Column(scale=2):
                input_controls(ui, engine)
            with gr.Column(scale=3):
                chat_controls(ui)
        gr.Examples(
            [[str(e.path), e.question] for e in examples],
            inputs=[ui.video, ui.question],
            label="Bundled examples (synthetic videos made by longva)",
        )
        wire_budget(ui, engine, page)
        wire_chat(ui, engine)
    return page


def input_controls(ui: SimpleNamespace, engine: Engine) -> None:
    s = engine.settings
    with gr.Tabs():
        with gr.Tab("Video"):
            ui.video = gr.Video(label="Video", sources=["upload"], elem_id="video", height=240)
        with gr.Tab("Images"):
            ui.images = gr.File(
                label="Images", file_count="multiple", file_types=["image"], elem_id="images"
            )
    ui.mode = gr.Radio(
        ["frames", "fps"], value="frames", label="Sample the video by", elem_id="mode"
    )
    ui.frames = gr.Slider(
        1, s.max_frames, value=s.default_frames, step=1, label="Frames (uniform)", elem_id="frames"
    )
    ui.fps = gr.Number(1.0, label="Frames per second (with 'fps')", minimum=0.01, elem_id="fps")
    ui.budget = gr.Markdown(elem_id="budget")
    with gr.Accordion("Answer settings", open=False):
        ui.max_new = gr.Slider(
            1,
            s.max_new_tokens,
            value=min(256, s.max_new_tokens),
            step=1,
            label="Max new tokens",
            elem_id="max_new",
        )
        ui.temperature = gr.Slider(
            0, 2, value=0, step=0.05, label="Temperature (0 = greedy)", elem_id="temperature"
        )
        ui.top_p = gr.Slider(0.05, 1, value=1, step=0.05, label="Top-p", elem_id="top_p")


def chat_controls(ui: SimpleNamespace) -> None:
    ui.strip = gr.Gallery(
        label="Sampled frames",
        columns=STRIP_FRAMES,
        rows=1,
        height=140,
        elem_id="strip",
        allow_preview=False,
        object_fit="contain",
        buttons=[],
    )
    ui.chat = gr.Chatbot(show_label=False, height=360, elem_id="chat", buttons=[])
    ui.question = gr.Textbox(
        label="Question", placeholder="Ask about the video...", elem_id="question"
    )
    with gr.Row():
        ui.send = gr.Button("Send", variant="primary", elem_id="send")
        ui.stop = gr.Button("Stop", variant="stop", elem_id="stop")
        ui.clear = gr.Button("Clear", elem_id="clear")
    ui.timings = gr.Markdown(elem_id="timings")


def wire_budget(ui: SimpleNamespace, engine: Engine, page: gr.Blocks) -> None:
    """The token budget follows every control that changes it."""
    ui.budget_inputs = [ui.state, ui.video, ui.images, ui.mode, ui.frames, ui.fps, ui.max_new]

    def show(*values):
        return budget_markdown(engine, *values)

    for control in (ui.video, ui.images, ui.mode, ui.frames, ui.fps, ui.max_new):
        control.change(
            show, ui.budget_inputs, ui.budget, concurrency_limit=None, show_progress="hidden"
        )
    page.load(show, ui.budget_inputs, ui.budget)


def wire_chat(ui: SimpleNamespace, engine: Engine) -> None:
    """Send / Enter ask (the answer streams in), Stop cancels, Clear starts over."""

    async def on_ask(*values):  # the components of `inputs` below, in that order
        updates = ask(engine, *values)
        async for messages, frames_strip, status, new_state in updates:
            strip = gr.skip() if frames_strip is None else frames_strip
            yield messages, strip, status, new_state, ""

    inputs = [
        ui.question,
        ui.video,
        ui.images,
        ui.mode,
        ui.frames,
        ui.fps,
        ui.max_new,
        ui.temperature,
        ui.top_p,
        ui.chat,
        ui.state,
        ui.control,
    ]
    outputs = [ui.chat, ui.strip, ui.timings, ui.state, ui.question]
    asked = [event(on_ask, inputs, outputs) for event in (ui.send.click, ui.question.submit)]
    for event in asked:  # the history grew: what would the next turn cost
        event.then(
            lambda *a: budget_markdown(engine, *a),
            ui.budget_inputs,
            ui.budget,
            show_progress="hidden",
        )
    ui.stop.click(lambda control: control.stop(), ui.control, None, concurrency_limit=None)
    ui.clear.click(clear, ui.control, [ui.chat, ui.strip, ui.timings, ui.state], cancels=asked)
    ui.clear.click(
        lambda *a: budget_markdown(engine, PageState(), *a[1:]), ui.budget_inputs, ui.budget
    )


def clear(control: StopControl) -> tuple:
    """A new conversation: the running answer (if any) stops, everything shown is emptied."""
    control.stop()
    return [], [], "", PageState()


def header(engine: Engine) -> str:
    s = engine.settings
    ctx = f"{engine.context:,}" if engine.context else "unknown"
    return (
        f"## LongVA · `{s.name}`\n{engine.tokens_per_frame} tokens per frame"
        f" · context {ctx} tokens · up to {s.max_frames} frames per video"
        f" · one answer at a time, {s.max_queue} may wait"
        " · OpenAI-compatible API at `/v1/chat/completions`"
    )
