"""LLaVA conversation datasets: label masks, placeholder rules, image paths, one-line errors."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from longva.data.conversations import ConversationDataset, read_records
from longva.errors import InputError
from longva.model.modeling_longva import LongVAForCausalLM
from longva.model.processor import LongVAProcessor
from longva.model.prompt import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config

IGN = IGNORE_INDEX


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


def _processor(tokenizer, template="qwen_1_5"):
    config = replace(tiny_longva_config(len(tokenizer), max_grids=4), template=template)
    return LongVAProcessor(tokenizer, config)


def _write(tmp_path, records, name="data.json", images=("a.png",)):
    (tmp_path / "images").mkdir(exist_ok=True)
    for i, rel in enumerate(images):
        Image.fromarray(np.full((32, 64, 3), 40 * i, np.uint8)).save(tmp_path / "images" / rel)
    path = tmp_path / name
    if name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        path.write_text(json.dumps(records))
    return path


def _record(conversations, image="a.png", rid="r1"):
    rec = {"id": rid, "conversations": [{"from": f, "value": v} for f, v in conversations]}
    if image is not None:
        rec["image"] = image
    return rec


def _dataset(tmp_path, tokenizer, records, template="qwen_1_5", **kw):
    return ConversationDataset(_write(tmp_path, records, **kw), tmp_path / "images", _processor(tokenizer, template))


def _one_line_error(excinfo, *needles):
    msg = str(excinfo.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


# ---- label masks ----------------------------------------------------------------------------------


def test_qwen_multi_turn_masks_follow_preprocess_qwen_at_every_position(tmp_path, tokenizer):
    """Expected sequence built piece by piece with the original's rules (dossier §2.4):
    system/user turns: only <|im_start|>, <|im_end|> and the trailing "\\n" supervised;
    assistant turns: "assistant" + "\\n" masked, answer + <|im_end|> + "\\n" supervised;
    the single <image> (here at the END of the question) is moved to the front of the turn."""
    conv = [("human", "What is in the image?\n<image>"), ("gpt", "A red square."),
            ("human", "Answer with a single word."), ("gpt", "red")]
    ds = _dataset(tmp_path, tokenizer, [_record(conv)])
    ids, labels = ds.encode_text(0)

    def enc(text):
        return tokenizer.encode(text, add_special_tokens=False)

    start, end = tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    nl = enc("\n")
    assert len(nl) == 1

    def context_turn(body):  # system / user: [im_start] sup, body ignored, [im_end, \n] sup
        return [(start, True)] + [(t, False) for t in body] + [(end, True), (nl[0], True)]

    def answer_turn(answer):  # assistant: [im_start] sup, "assistant\n" ignored, answer+end+\n sup
        return (
            [(start, True)]
            + [(t, False) for t in enc("assistant") + nl]
            + [(t, True) for t in enc(answer)]
            + [(end, True), (nl[0], True)]
        )

    expected = (
        context_turn(enc("system") + nl + enc("You are a helpful assistant."))
        + context_turn(enc("user") + nl + [IMAGE_TOKEN_INDEX] + nl + enc("What is in the image?"))
        + answer_turn("A red square.")
        + context_turn(enc("user") + nl + enc("Answer with a single word."))
        + answer_turn("red")
    )
    assert ids.tolist() == [t for t, _ in expected]
    assert labels.tolist() == [t if sup else IGN for t, sup in expected]
    # hand count: 3 supervised per context turn (x3), im_start + answer + im_end + \n per answer
    assert int((labels != IGN).sum()) == 9 + (3 + len(enc("A red square."))) + (3 + len(enc("red")))
    assert labels[ids.tolist().index(IMAGE_TOKEN_INDEX)] == IGN


def test_plain_template_is_image_then_caption_with_loss_on_the_caption(tmp_path, tokenizer):
    """`preprocess_plain`: the human text is dropped; <image> + caption + "\\n"; caption + "\\n" supervised."""
    ds = _dataset(
        tmp_path,
        tokenizer,
        [_record([("human", "Describe the image.\n<image>"), ("gpt", "A red square.")])],
        template="plain",
    )
    ids, labels = ds.encode_text(0)
    caption = tokenizer.encode("A red square.", add_special_tokens=False) + tokenizer.encode(
        "\n", add_special_tokens=False
    )
    assert ids.tolist() == [IMAGE_TOKEN_INDEX] + caption
    assert labels.tolist() == [IGN] + caption


def test_plain_template_refuses_multi_turn_rows(tmp_path, tokenizer):
    conv = [("human", "<image>\nQ"), ("gpt", "A"), ("human", "Q2"), ("gpt", "B")]
    with pytest.raises(InputError) as e:
        _dataset(tmp_path, tokenizer, [_record(conv, rid="multi")], template="plain")
    _one_line_error(e, "row multi", "plain", "4 turns")


# ---- placeholders and images ----------------------------------------------------------------------


def test_placeholder_count_must_match_image_count(tmp_path, tokenizer):
    conv = [("human", "<image>\n<image>\nCompare."), ("gpt", "Same.")]
    with pytest.raises(InputError) as e:
        _dataset(tmp_path, tokenizer, [_record(conv, image="a.png", rid="two_ph")])
    _one_line_error(e, "row two_ph", "2 <image> placeholder(s)", "1 image(s)")
    with pytest.raises(InputError) as e:
        _dataset(
            tmp_path,
            tokenizer,
            [_record([("human", "Q"), ("gpt", "A")], image=["a.png", "b.png"], rid="two_img")],
            images=("a.png", "b.png"),
        )
    _one_line_error(e, "row two_img", "0 <image>", "2 image(s)")


def test_single_image_without_placeholder_gets_one_in_front(tmp_path, tokenizer):
    ds = _dataset(tmp_path, tokenizer, [_record([("human", "What is it?"), ("gpt", "A square.")])])
    assert ds.records[0].messages[0] == ("user", "<image>\nWhat is it?")
    ids, _ = ds.encode_text(0)
    assert int((ids == IMAGE_TOKEN_INDEX).sum()) == 1


def test_multi_image_and_text_only_rows(tmp_path, tokenizer):
    records = [
        _record([("human", "<image> and <image>: same?"), ("gpt", "No.")], image=["a.png", "b.png"], rid="pair"),
        _record([("human", "Say yes."), ("gpt", "yes")], image=None, rid="text"),
    ]
    ds = _dataset(tmp_path, tokenizer, records, images=("a.png", "b.png"))
    pair, text = ds.example(0), ds.example(1)
    assert len(pair.visuals) == 2 and int((pair.input_ids == IMAGE_TOKEN_INDEX).sum()) == 2
    assert text.visuals == [] and int((text.input_ids == IMAGE_TOKEN_INDEX).sum()) == 0


def test_missing_image_is_a_lazy_one_line_error_naming_row_and_path(tmp_path, tokenizer):
    records = [_record([("human", "<image>\nQ"), ("gpt", "A")], rid="ok"),
               _record([("human", "<image>\nQ"), ("gpt", "A")], image="sub/gone.png", rid="lost")]
    ds = _dataset(tmp_path, tokenizer, records)  # reading the file does not open images
    ds.example(0)
    with pytest.raises(InputError) as e:
        ds.example(1)
    _one_line_error(e, "row lost", "sub/gone.png")
    with pytest.raises(InputError) as e:
        ds.check()
    _one_line_error(e, "row lost", "sub/gone.png")


def test_image_path_may_not_escape_the_image_folder(tmp_path, tokenizer):
    (tmp_path / "secret.png").write_bytes(b"x")
    ds = _dataset(
        tmp_path, tokenizer, [_record([("human", "<image>\nQ"), ("gpt", "A")], image="../secret.png", rid="esc")]
    )
    with pytest.raises(InputError) as e:
        ds.example(0)
    _one_line_error(e, "row esc", "../secret.png", "escapes")


def test_video_rows_and_rows_without_answers_are_refused(tmp_path, tokenizer):
    with pytest.raises(InputError) as e:
        _dataset(
            tmp_path, tokenizer, [{"id": "v", "video": "x.mp4", "conversations": [{"from": "human", "value": "Q"}]}]
        )
    _one_line_error(e, "row v", "video")
    with pytest.raises(InputError) as e:
        _dataset(tmp_path, tokenizer, [_record([("human", "<image>\nQ")], rid="noans")])
    _one_line_error(e, "row noans", "no gpt turn")


# ---- files and lengths ------------------------------------------------------------------------------


def test_jsonl_is_read_and_a_bad_line_is_named(tmp_path, tokenizer):
    records = [_record([("human", "<image>\nQ"), ("gpt", "A")], rid=f"r{i}") for i in range(3)]
    path = _write(tmp_path, records, name="data.jsonl")
    assert [r["id"] for r in read_records(path)] == ["r0", "r1", "r2"]
    path.write_text(path.read_text() + "{broken\n")
    with pytest.raises(InputError) as e:
        read_records(path)
    _one_line_error(e, "line 4")


def test_a_dataset_that_is_missing_a_folder_or_not_utf8_is_one_line(tmp_path):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"id": "caf\xe9"}\n')
    for path, words in ((tmp_path / "none.json", "does not exist"), (tmp_path, "is a folder"),
                        (bad, "not UTF-8 text (byte 0xe9")):
        with pytest.raises(InputError) as e:
            read_records(path)
        _one_line_error(e, words)


def test_length_matches_the_spliced_sequence(tmp_path, tokenizer):
    """`length` (image headers only) equals the sequence the model actually builds."""
    ds = _dataset(tmp_path, tokenizer, [_record([("human", "<image>\nQ"), ("gpt", "A")])])
    torch.manual_seed(0)
    model = LongVAForCausalLM(ds.processor.config).eval()
    ex = ds.example(0)
    with torch.no_grad():
        out = model(input_ids=[ex.input_ids], visuals=ex.visuals, labels=[ex.labels])
    assert ds.length(0) == out.inputs_embeds.shape[1]
    assert ex.visuals[0].num_grids == 2  # a 64x32 image spans 2 UniRes grids
