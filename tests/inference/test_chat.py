import numpy as np
import pytest
import torch
from PIL import Image

from longva.data.video import load_video, probe_video
from longva.errors import InputError
from longva.inference import prepare_visuals
from longva.model.encoding import image_token_count
from longva.model.prompt import IMAGE_TOKEN_INDEX

GEN = dict(max_new_tokens=6)
VIDEO_FRAMES = 12  # conftest's clip.mp4


def test_the_test_video_has_the_expected_frames(media):
    assert probe_video(media / "clip.mp4").num_frames == VIDEO_FRAMES


def test_video_is_sampled_uniformly_and_center_cropped(pipe, media):
    visuals = prepare_visuals(pipe.processor, video=media / "clip.mp4", num_frames=5)
    assert visuals.frames_used == np.linspace(0, VIDEO_FRAMES - 1, 5, dtype=int).tolist()
    frames = load_video(media / "clip.mp4", num_frames=5).frames
    expected = pipe.processor.preprocess_frames(frames, mode="crop")
    assert pipe.model.config.encoding.frame_mode == "crop"
    assert torch.equal(visuals.inputs[0].pixel_values, expected)


def test_chat_about_a_video_reports_frames_tokens_and_timings(pipe, media):
    result = pipe.chat("What happens?", video=media / "clip.mp4", num_frames=4, **GEN)
    assert result.frames_used == np.linspace(0, VIDEO_FRAMES - 1, 4, dtype=int).tolist()
    assert result.visual_tokens == 4 * pipe.model.tokens_per_frame
    assert set(result.timings) >= {"decode", "encode", "prefill", "generate", "total"}
    assert result.answer == pipe.processor.decode(
        pipe.processor.tokenizer.encode(result.answer, add_special_tokens=False)
    )
    assert result.history.turns[0].question == "<image>\nWhat happens?"  # one placeholder, first


def test_fps_sampling_takes_every_nth_frame(pipe, media):
    result = pipe.chat("What happens?", video=media / "clip.mp4", fps=2, **GEN)  # 4 fps video
    assert result.frames_used == list(range(0, VIDEO_FRAMES, 2))


def test_one_placeholder_per_image_with_unires_token_counts(pipe, media):
    paths = [media / "red.png", media / "blue.png"]
    result = pipe.chat("Compare them.", images=paths, **GEN)
    cfg = pipe.model.config
    assert result.visual_tokens == sum(image_token_count(cfg, Image.open(p).size) for p in paths)
    assert result.history.turns[0].question.count(cfg.image_token) == 2
    assert result.frames_used is None


def test_in_memory_frames_and_pil_images_are_accepted(pipe):
    frames = np.zeros((3, 30, 40, 3), np.uint8)
    result = pipe.chat("What?", video=frames, images=[Image.new("RGB", (30, 30))], **GEN)
    assert result.frames_used == [0, 1, 2]
    assert result.visual_tokens == 3 * pipe.model.tokens_per_frame + image_token_count(pipe.model.config, (30, 30))


def test_follow_up_keeps_the_video_and_both_turns(pipe, media):
    first = pipe.chat("What happens?", video=media / "clip.mp4", num_frames=4, **GEN)
    second = pipe.chat("And then?", history=first.history, **GEN)
    turns = second.history.turns
    assert [t.question for t in turns] == ["<image>\nWhat happens?", "And then?"]
    assert [t.answer for t in turns] == [first.answer, second.answer]
    assert second.visual_tokens == 0 and len(second.history.features) == 1
    assert second.prompt_tokens > first.prompt_tokens + first.new_tokens
    # the prompt of turn 2 renders turn 1 (with its placeholder) before the new question
    ids = pipe.processor.encode_prompt(second.history.messages()[:-1])
    assert int((ids == IMAGE_TOKEN_INDEX).sum()) == 1


def test_kept_kv_cache_gives_the_same_answers_as_prefilling_everything(pipe, media):
    keep, fresh = dict(GEN, max_new_tokens=8, keep_cache=True), dict(GEN, max_new_tokens=8)
    cached = pipe.chat("What happens?", video=media / "clip.mp4", num_frames=4, **keep)
    plain = pipe.chat("What happens?", video=media / "clip.mp4", num_frames=4, **fresh)
    assert cached.answer == plain.answer and plain.history.kv is None
    follow = pipe.chat("And then?", history=cached.history, **keep)
    follow_plain = pipe.chat("And then?", history=plain.history, **fresh)
    assert follow.reused_tokens >= cached.prompt_tokens  # the video was not prefilled again
    assert follow_plain.reused_tokens == 0
    assert follow.answer == follow_plain.answer
    # branching from the first turn again after the cache moved on stays correct
    branch = pipe.chat("Who is there?", history=cached.history, **keep)
    branch_plain = pipe.chat("Who is there?", history=plain.history, **fresh)
    assert branch.answer == branch_plain.answer
    assert 0 < branch.reused_tokens < follow.prompt_tokens


def test_kept_cache_is_not_reused_across_different_visuals_at_the_same_place(pipe, media):
    keep, fresh = dict(GEN, max_new_tokens=8, keep_cache=True), dict(GEN, max_new_tokens=8)
    first = pipe.chat("What happens?", video=media / "clip.mp4", num_frames=4, **keep)
    dark, light = np.full((2, 30, 40, 3), 10, np.uint8), np.full((2, 30, 40, 3), 240, np.uint8)
    pipe.chat("And this one?", video=dark, history=first.history, **keep)  # the cache now ends with `dark`
    same_text = pipe.chat("And this one?", video=light, history=first.history, **keep)
    plain = pipe.chat("And this one?", video=light, history=first.history, **fresh)
    assert same_text.answer == plain.answer
    # reuse ends at the new video's placeholder: text ids before it, plus the first video's tokens
    ids = pipe.processor.encode_prompt(same_text.history.messages()[:-1])[0]
    second_placeholder = int((ids == IMAGE_TOKEN_INDEX).nonzero()[1])
    assert same_text.reused_tokens == second_placeholder - 1 + first.visual_tokens


def test_empty_question_and_mixed_inputs_are_user_errors(pipe, media):
    with pytest.raises(InputError, match="question is empty"):
        pipe.chat("  ", **GEN)
    visuals = prepare_visuals(pipe.processor, images=[media / "red.png"])
    with pytest.raises(InputError, match="not both"):
        pipe.chat("What?", visuals=visuals, images=[media / "red.png"], **GEN)
    with pytest.raises(InputError, match="no video was given"):
        pipe.chat("What?", images=[media / "red.png"], fps=1.0, **GEN)
    with pytest.raises(InputError, match="temperature"):
        pipe.chat("What?", temperature=-0.5, **GEN)


def test_package_exports_functions_and_the_cli_module_does_not_import_torch():
    import subprocess
    import sys

    import longva.inference as inference
    import longva.inference.conversation  # noqa: F401  (a loaded submodule must not shadow chat)
    import longva.inference.generation  # noqa: F401

    assert callable(inference.chat) and inference.chat.__name__ == "chat"
    assert inference.generate.__name__ == "generate"
    code = "import sys, longva.inference.cli; assert 'torch' not in sys.modules, 'torch imported'"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
