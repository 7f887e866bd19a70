from longva.model.prompt import (
    IGNORE_INDEX,
    IMAGE_TOKEN_INDEX,
    QWEN_1_5,
    encode_segments,
    move_image_first,
    normalise_conversation,
    tokenize_with_images,
)


def test_qwen_prompt_is_the_originals_exact_string():
    text = QWEN_1_5.render([("user", "<image>\nWhat happens?")])
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<image>\nWhat happens?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_one_placeholder_id_per_image(tokenizer):
    ids = tokenize_with_images("<image>\nA<image>B", tokenizer)
    assert ids.count(IMAGE_TOKEN_INDEX) == 2 and ids[0] == IMAGE_TOKEN_INDEX


def test_label_mask_follows_preprocess_qwen(tokenizer):
    conv = normalise_conversation(
        [{"from": "human", "value": "Q1 <image>"}, {"from": "gpt", "value": "A1"},
         {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A2"}]
    )
    conv = [(r, move_image_first(t)) for r, t in conv]
    assert conv[0][1] == "<image>\nQ1"
    ids, labels = encode_segments(QWEN_1_5.segments(conv, add_generation_prompt=False), tokenizer)
    tok = tokenizer.convert_ids_to_tokens
    kept = [tok(t) for t, lab in zip(ids, labels) if lab != IGNORE_INDEX]
    start, end, nl = "<|im_start|>", "<|im_end|>", "Ċ"
    a1 = tok(tokenizer.encode("A1", add_special_tokens=False))
    a2 = tok(tokenizer.encode("A2", add_special_tokens=False))
    # system turn, user turn: only <|im_start|>, <|im_end|>, "\n"; assistant: <|im_start|>, answer, <|im_end|>, "\n"
    expected = [start, end, nl] + [start, end, nl] + [start, *a1, end, nl] + [start, end, nl] + [start, *a2, end, nl]
    assert kept == expected
    assert labels[ids.index(IMAGE_TOKEN_INDEX)] == IGNORE_INDEX
    assert len(ids) == len(labels)


def test_conversation_starting_with_assistant_drops_that_turn():
    conv = normalise_conversation([{"from": "gpt", "value": "x"}, {"from": "human", "value": "q"}])
    assert conv == [("user", "q")]
