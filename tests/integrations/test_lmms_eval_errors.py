"""Bad `--model_args` and generation kwargs: one clear line, before any model is loaded."""

from __future__ import annotations

import pytest
from lmms_helpers import run_lmms_eval, write_jsonl

from longva.errors import ConfigError
from longva.integrations.lmms_eval_args import ACCEPTED, parse_model_args
from longva.integrations.lmms_eval_model import generation_settings


def test_unknown_model_arg_fails_the_cli_run_with_our_message(tmp_path, model_dir, media):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    write_jsonl(tasks / "docs.jsonl", [{"v": str(media / "clip.mp4")}])
    (tasks / "u.py").write_text(
        "def vis(doc):\n    return [doc['v']]\n"
        "def text(doc, lmms_eval_specific_kwargs=None):\n    return 'q'\n"
    )
    (tasks / "t.yaml").write_text(
        "task: err_task\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {tasks / 'docs.jsonl'}\ntest_split: test\noutput_type: generate_until\n"
        "doc_to_visual: !function u.vis\ndoc_to_text: !function u.text\ndoc_to_target: v\n"
        "metric_list:\n  - metric: exact_match\n"
    )
    result = run_lmms_eval(
        tmp_path, "longva", f"pretrained={model_dir},max_frame_num=8", "err_task", tasks
    )
    assert result.results is None  # lmms-eval exits 0 anyway: no results file is the failure
    assert "unknown argument(s) max_frame_num for --model longva" in result.output
    assert "max_frames_num" in result.output  # the accepted names are listed


def test_model_args_are_checked():
    args = parse_model_args(
        {
            "pretrained": "DIR",
            "conv_template": "qwen_1_5",
            "max_frames_num": 8,
            "video_decode_backend": "decord",
            "model_name": "llava_qwen",
            "batch_size": "1",
            "device": "cpu",
            "mm_spatial_pool_mode": "average",
        }
    )
    assert args.max_frames_num == 8 and args.batch_size == 1 and args.torch_dtype == "auto"
    issue_names = {
        "pretrained",
        "conv_template",
        "max_frames_num",
        "video_decode_backend",
        "model_name",
        "token_strategy",
        "mm_spatial_pool_stride",
        "mm_spatial_pool_mode",
        "device_map",
        "attn_implementation",
        "torch_dtype",
    }
    assert issue_names <= set(ACCEPTED)
    bad = [
        {"conv_template": "vicuna_v1"},
        {"max_frames_num": 0},
        {"token_strategy": "all"},
        {"mm_spatial_pool_mode": "bilinear"},
        {"torch_dtype": "int8"},
        {"batch_size": "x"},
        {"video_decode_backend": "opencv"},
        {"mm_spatial_pool_stride": True},
    ]
    for extra in bad:
        with pytest.raises(ConfigError) as err:
            parse_model_args({"pretrained": "DIR", **extra})
        assert next(iter(extra)) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="pretrained=DIR is required"):
        parse_model_args({})


def test_generation_kwargs():
    s = generation_settings(
        {"until": ["\n\n"], "max_new_tokens": 16, "temperature": 0, "do_sample": False}
    )
    assert s.stop_strings == ("\n\n",) and s.max_new_tokens == 16 and not s.do_sample
    s = generation_settings({"temperature": 0.7, "do_sample": True, "top_p": 0.9, "until": "###"})
    assert s.do_sample and s.temperature == 0.7 and s.top_p == 0.9 and s.stop_strings == ("###",)
    assert generation_settings({}).max_new_tokens == 1024  # lmms-eval's LongVA wrapper default
    with pytest.raises(ConfigError, match="num_beams"):
        generation_settings({"num_beams": 4})
    with pytest.raises(ConfigError, match="repetition_penalty"):
        generation_settings({"repetition_penalty": 1.1})
