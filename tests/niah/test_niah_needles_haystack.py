"""Needle folders (ours and the original's), synthetic needles and haystacks."""

import json

import numpy as np
import pytest
from PIL import Image

from longva.errors import LongVAError
from longva.niah.haystack import SyntheticHaystack, VideoHaystack, check_length
from longva.niah.needles import OPTION_INSTRUCTION, load_needles
from longva.niah.synthetic_needles import generate_needles


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (255, 0, 0)).save(path)


def test_jsonl_needles_with_options(tmp_path):
    _image(tmp_path / "img" / "a.png")
    rows = [
        {"image": "img/a.png", "question": "\nWhat colour?", "answer": "Red"},
        {
            "image": "img/a.png",
            "question": "\nWhich?",
            "answer": "Blue",
            "options": ["Red", "Blue", "Green"],
        },
    ]
    (tmp_path / "needles.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    a, b = load_needles(tmp_path)
    assert a.prompt == "\nWhat colour?" and a.answer == "Red"
    assert (
        b.answer == "B" and b.prompt == "\nWhich?\nA. Red\nB. Blue\nC. Green\n" + OPTION_INSTRUCTION
    )


def test_original_dataset_json(tmp_path):
    _image(tmp_path / "images" / "ucsd.jpeg")
    rows = [
        {"path": "ucsd.jpeg", "prompt": "\nFind the frame of the note.\nA. x\nB. y", "answer": "B"}
    ]
    (tmp_path / "dataset.json").write_text(json.dumps(rows))
    [n] = load_needles(tmp_path)
    assert n.image == (tmp_path / "images" / "ucsd.jpeg").resolve() and n.prompt.startswith(
        "\nFind"
    )


@pytest.mark.parametrize(
    "image, message",
    [
        ("missing.png", "does not exist"),
        ("../outside.png", "escapes its folder"),
        ("/etc/passwd", "is absolute"),
    ],
)
def test_bad_needle_paths_are_one_line_errors(tmp_path, image, message):
    folder = tmp_path / "set"
    folder.mkdir()
    _image(tmp_path / "outside.png")
    (folder / "needles.jsonl").write_text(
        json.dumps({"image": image, "question": "q", "answer": "a"}) + "\n"
    )
    with pytest.raises(LongVAError, match=message) as e:
        load_needles(folder)
    assert "\n" not in str(e.value)


def test_synthetic_needles_are_deterministic_and_loadable(tmp_path):
    a = generate_needles(tmp_path / "a", n=6, size=48, seed=5)
    b = generate_needles(tmp_path / "b", n=6, size=48, seed=5)
    assert (a / "needles.jsonl").read_text() == (b / "needles.jsonl").read_text()
    assert (a / "images/needle_003.png").read_bytes() == (b / "images/needle_003.png").read_bytes()
    needles = load_needles(a)
    assert len(needles) == 6 and all(n.question.startswith("\nFind the frame") for n in needles)
    assert {n.id.split("_")[-1] for n in needles} == {"square", "object", "digit", "text"}


def test_toy_needles_colour_squares_with_options(tmp_path):
    folder = generate_needles(
        tmp_path,
        n=4,
        size=24,
        kinds=["square"],
        colors=["Red", "Blue"],
        options=True,
        background="plain",
    )
    needles = load_needles(folder)
    assert all(n.answer in "ABCD" and len(n.options) == 4 for n in needles)
    for n in needles:
        colour = n.options["ABCD".index(n.answer)]
        centre = np.asarray(Image.open(n.image))[12, 12]
        assert colour in ("Red", "Blue") and centre[0 if colour == "Red" else 2] > 200


def test_synthetic_needle_bad_kind(tmp_path):
    with pytest.raises(LongVAError, match="kinds"):
        generate_needles(tmp_path, kinds=["hologram"])


def test_synthetic_haystack_is_deterministic_varied_and_saturation_aware():
    hay = SyntheticHaystack(seed=2, width=64, height=36, scene_length=5)
    assert np.array_equal(
        hay.frame(7), SyntheticHaystack(seed=2, width=64, height=36, scene_length=5).frame(7)
    )
    assert hay.frame(0).shape == (36, 64, 3) and hay.frame(0).dtype == np.uint8
    assert np.abs(hay.frame(0).astype(int) - hay.frame(5).astype(int)).mean() > 10  # scene change
    muted = SyntheticHaystack(seed=2, width=64, height=36, saturation=0.0).frame(3).astype(float)
    assert np.abs(muted - muted.mean(-1, keepdims=True)).mean() < 5  # grey up to grain
    assert next(hay.frames_from(7)).tolist() == hay.frame(7).tolist()


def test_video_haystack_samples_one_frame_per_second(tmp_path):
    from longva.data.video_writer import write_video

    frames = [np.full((24, 32, 3), 10 * i, np.uint8) for i in range(12)]
    path = write_video(tmp_path / "v.mp4", frames, fps=4)
    hay = VideoHaystack(path)  # 12 frames at 4 fps -> frames 0, 4, 8
    assert len(hay) == 3
    got = list(hay.frames_from(1))
    assert len(got) == 2 and abs(int(got[0].mean()) - 40) <= 3
    with pytest.raises(LongVAError, match="sampled frames but --frames asks for up to 200") as e:
        check_length(hay, 200)
    assert "\n" not in str(e.value)
    assert VideoHaystack(path, num_frames=6).__len__() == 6
