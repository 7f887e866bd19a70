"""The server's parts in-process: stop strings, media resolution, message plans, the queue,
token budgets, settings. Fast; the live-server tests cover them end to end."""

import asyncio
import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from longva.errors import InputError
from longva.inference.history import ChatHistory
from longva.serve.api_errors import APIError, Cancelled, QueueFull
from longva.serve.budget import turn_budget, visual_token_count
from longva.serve.media import resolve_media
from longva.serve.messages import plan_conversation
from longva.serve.openai_schema import Message
from longva.serve.settings import ServeSettings, exposure_warning, is_loopback
from longva.serve.slots import GenerationSlots
from longva.serve.stops import StopStrings
from longva.serve.visual_prep import Framing, prepare_media

# ---- stop strings -------------------------------------------------------------------------------


@given(
    st.text("ab\ncd", max_size=40),
    st.lists(st.text("ab\ncd", min_size=1, max_size=3), max_size=3),
    st.lists(st.integers(1, 5), min_size=1, max_size=20),
)
def test_stop_strings_emit_exactly_the_text_before_the_first_stop(text, stops, cuts):
    pieces, i = [], 0
    for n in cuts * 10:
        if i >= len(text):
            break
        pieces.append(text[i : i + n])
        i += n
    pieces.append(text[i:])
    matcher = StopStrings(stops)
    sent = []
    for piece in pieces:
        sent.append(matcher.push(piece))
        if matcher.hit:
            break
    sent.append(matcher.finish())
    expected = "".join(pieces)  # the reference: after each piece, cut at the first stop so far
    so_far = ""
    for piece in pieces:
        so_far += piece
        found = [so_far.find(s) for s in stops if s in so_far]
        if found:
            expected = so_far[: min(found)]
            break
    assert "".join(sent) == matcher.text == expected
    assert matcher.hit == any(s in text for s in stops)


def test_a_stop_string_split_over_pieces_is_held_back_then_cut():
    matcher = StopStrings(["END"])
    assert matcher.push("hello E") == "hello "  # "E" might start END
    assert matcher.push("N") == ""
    assert matcher.push("Dmore") == "" and matcher.hit and matcher.text == "hello "
    other = StopStrings(["END"])
    assert other.push("an E") == "an " and other.push("gg") == "Egg" and not other.hit


# ---- media --------------------------------------------------------------------------------------


def test_media_paths_must_resolve_inside_the_root(tmp_path):
    root, scratch = tmp_path / "root", tmp_path / "scratch"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"x")
    (root / "escape.mp4").symlink_to(tmp_path / "secret.mp4")
    ok = resolve_media("sub/a.mp4", "video", root, scratch, "p")
    assert ok.path == (root / "sub" / "a.mp4").resolve()
    assert (
        resolve_media((root / "sub" / "a.mp4").as_uri(), "video", root, scratch, "p").path
        == ok.path
    )
    for url in (
        "../secret.mp4",
        str(tmp_path / "secret.mp4"),
        "escape.mp4",
        "sub/../../secret.mp4",
        "~/x",
    ):
        with pytest.raises(APIError) as caught:
            resolve_media(url, "video", root, scratch, "p")
        assert caught.value.status == 403, url
    with pytest.raises(APIError) as caught:
        resolve_media("sub/a.mp4", "video", None, scratch, "p")  # no root: no local paths at all
    assert caught.value.status == 403 and "--allowed-root" in str(caught.value)
    with pytest.raises(APIError) as caught:
        resolve_media(str(tmp_path / "nothing-here"), "video", root, scratch, "p")
    assert caught.value.status == 403  # outside: refused before its existence is checked


def test_data_urls_are_written_to_the_scratch_folder(tmp_path):
    url = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
    ref = resolve_media(url, "image", None, tmp_path, "p")
    assert (
        ref.path.parent == tmp_path
        and ref.path.suffix == ".png"
        and ref.path.read_bytes() == b"\x89PNG fake"
    )
    for bad in (
        "data:image/png;base64,",
        "data:image/png,plain",
        "data:application/zip;base64,AAAA",
        "http://example.com/a.png",
        "gopher://x/y",
        "  ",
    ):
        with pytest.raises(APIError) as caught:
            resolve_media(bad, "image", tmp_path, tmp_path, "p")
        assert caught.value.status == 400, bad


# ---- messages -----------------------------------------------------------------------------------


def _fake_resolver(calls):
    def resolve(url, kind, param):
        calls.append((url, kind, param))
        from pathlib import Path

        from longva.serve.media import MediaRef

        return MediaRef(kind, Path(url), url)

    return resolve


def test_messages_become_system_turns_and_question_in_order():
    messages = [
        Message.model_validate(m)
        for m in [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use English."}]},
            {
                "role": "user",
                "content": [
                    {"type": "video_url", "video_url": {"url": "v.mp4"}},
                    {"type": "text", "text": "What?"},
                ],
            },
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "i.png"}}]},
            {"role": "assistant", "content": "A cat."},
            {"role": "user", "content": "And then?"},
        ]
    ]
    calls = []
    plan = plan_conversation(messages, _fake_resolver(calls), "<image>", max_visuals=8)
    assert plan.system == "Be brief.\n\nUse English."
    assert len(plan.turns) == 1 and plan.turns[0][1] == "A cat."
    assert plan.turns[0][0].text == "What?" and [m.kind for m in plan.turns[0][0].media] == [
        "video",
        "image",
    ]
    assert plan.question.text == "And then?" and plan.question.media == []
    assert [c[2] for c in calls] == [
        "messages[2].content[0].video_url.url",
        "messages[3].content[0].image_url.url",
    ]


# ---- the queue ----------------------------------------------------------------------------------


def test_slots_admit_one_running_plus_max_waiting_and_release_exactly_once():
    async def scenario():
        slots = GenerationSlots(max_waiting=1)
        first, second = slots.admit(), slots.admit()
        with pytest.raises(QueueFull):
            slots.admit()
        await first.turn()
        waiter = asyncio.ensure_future(second.turn())
        await asyncio.sleep(0.05)
        assert (slots.running, slots.waiting) == (1, 1) and not waiter.done()
        first.release()
        first.release()  # idempotent
        await asyncio.wait_for(waiter, 5)
        assert (slots.running, slots.waiting) == (1, 0)
        second.release("cancelled")
        third = slots.admit()
        gone = asyncio.Event()

        async def disconnected():
            return gone.is_set()

        await third.turn(disconnected)  # free: no waiting
        fourth = slots.admit()
        task = asyncio.ensure_future(fourth.turn(disconnected))
        await asyncio.sleep(0.05)
        gone.set()
        with pytest.raises(Cancelled):
            await asyncio.wait_for(task, 5)
        fourth.release()
        third.release()
        assert slots.snapshot() == {
            "running": 0,
            "waiting": 0,
            "max_waiting": 1,
            "completed": 2,
            "cancelled": 1,
            "failed": 0,
            "rejected": 1,
        }

    asyncio.run(scenario())


# ---- budget, framing, settings ------------------------------------------------------------------


def test_visual_token_counts_match_the_encoder_and_the_budget_adds_up(pipe, media):
    from longva.serve.media import MediaRef

    refs = [
        MediaRef("video", media / "clip.mp4", "clip"),
        MediaRef("image", media / "red.png", "red"),
    ]
    visuals = prepare_media(pipe.processor, refs, Framing.of(5, None, 4, 16))
    counts = [visual_token_count(pipe.model.config, v) for v in visuals.prepared.inputs]
    encoded = [int(pipe.model.encode_visual(v).shape[0]) for v in visuals.prepared.inputs]
    assert counts == encoded and visuals.frames == [[0, 2, 5, 8, 11]]
    budget = turn_budget(pipe.processor, 1000, ChatHistory(), "What?", counts, 100)
    ids = pipe.processor.encode_prompt(pipe.processor.build_messages("What?", 2))
    assert budget.prompt_tokens == ids.shape[1] - 2 + sum(counts)
    assert (
        budget.fits
        and not turn_budget(
            pipe.processor, budget.prompt_tokens + 99, ChatHistory(), "What?", counts, 100
        ).fits
    )


def test_frame_caps_are_checked_before_decoding(pipe, media):
    from longva.serve.media import MediaRef

    with pytest.raises(InputError, match="cap of 16"):
        Framing.of(17, None, 4, 16)
    clip = [MediaRef("video", media / "clip.mp4", "clip.mp4")]
    with pytest.raises(InputError, match="samples 12 frames, more than this server's cap of 8"):
        prepare_media(pipe.processor, clip, Framing.of(None, 4.0, 4, 8))


def test_settings_are_checked_and_exposure_is_warned(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    settings = ServeSettings(model_dir=tmp_path).validated()
    assert settings.name == tmp_path.name and exposure_warning(settings) is None
    assert "no --api-key" in exposure_warning(ServeSettings(model_dir=tmp_path, host="0.0.0.0"))
    for bad in (
        dict(model_dir=tmp_path / "none"),
        dict(model_dir=tmp_path, port=70000),
        dict(model_dir=tmp_path, max_frames=0),
        dict(model_dir=tmp_path, default_frames=500),
        dict(model_dir=tmp_path, allowed_root=tmp_path / "none"),
        dict(model_dir=tmp_path, api_key=" "),
    ):
        with pytest.raises(InputError):
            ServeSettings(**bad).validated()
