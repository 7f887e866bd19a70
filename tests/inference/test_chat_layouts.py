"""Chat with models whose visual tokens sit elsewhere: text-first prompts, refused layouts."""

import pytest

from longva.errors import ConfigError
from longva.inference.pipeline import check_chat_layout
from longva.model.processor import LongVAProcessor
from longva.model.prompt import IMAGE_TOKEN_INDEX
from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config


def test_text_first_models_get_the_question_before_the_placeholder():
    tok = build_tiny_tokenizer()
    cfg = tiny_longva_config(len(tok))
    cfg.visual_position = "after_text"
    proc = LongVAProcessor(tok, cfg)
    messages = proc.build_messages("What is in the image?", 1)
    assert messages[-1] == ("user", "What is in the image?\n<image>")
    ids = proc.encode_prompt(messages)[0].tolist()
    question = tok.encode("What is in the image?", add_special_tokens=False)
    at = ids.index(IMAGE_TOKEN_INDEX)
    assert any(ids[i : i + len(question)] == question for i in range(at))  # the question comes first
    cfg.visual_position = "before_text"
    assert proc.build_messages("Q", 1)[-1] == ("user", "<image>\nQ")


@pytest.mark.parametrize("field, value", [("visual_position", "interleaved"), ("attention", "prefix_lm")])
def test_chat_refuses_layouts_its_causal_prefill_would_get_wrong(field, value):
    cfg = tiny_longva_config(100)
    check_chat_layout(cfg, "m")  # the default layout is fine
    setattr(cfg, field, value)
    with pytest.raises(ConfigError, match=f"m: .*{field}='{value}'"):
        check_chat_layout(cfg, "m")
