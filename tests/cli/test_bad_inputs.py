"""Every bad input is one line on stderr naming it, exit code 2, no traceback, nothing changed.

A table of hostile but realistic inputs across every command (issue 16's classes: output
locations, text encodings, numbers without bounds, config and checkpoint validation, the CLI
framework's own messages, security). Each case runs the real CLI in-process (`longva.cli.main`)
on a tiny model the session builds, and asserts:
- exit code 2;
- exactly one line on stderr, starting `error:` and containing the expected words (the input's
  name and what was wrong);
- no traceback anywhere in the output;
- the guarded inputs (every file the table refers to) unchanged, and the case's own `--out`
  never created: the error came before any work.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys

import pytest
from bad_input_fixtures import TOY_ALIGN, TOY_TEXT, build_inputs

from longva.cli import main

S = "{model}"  # a good tiny LongVA model
CHAT = ["chat", "--model", S]
NIAH = ["niah", "run", "--model", S, "--out", "{out}", "--preset", "smoke"]
TEXT = ["niah-text", "--model", S, "--out", "{out}", "--preset", "text-toy"]
TRAIN = ["train", "text", "--config", str(TOY_TEXT), "--set", "train.output_dir={out}"]
ALIGN = ["train", "align", "--config", str(TOY_ALIGN), "--set", "train.output_dir={out}"]
REPRO = ["reproduce", "--quick", "--out", "{out}"]
ABLATE = ["ablate", "run", "{plan}", "--quick", "--out", "{out}"]
EVAL = ["eval", "videomme", "--model", S, "--data", "{empty_dir}", "--out", "{out}"]

# (id, argv, words the one error line must contain); argv's {names} are inputs of the fixture
CASES = [
    # -- the CLI framework: usage errors are one line, not typer's box
    ("usage-unknown-command", ["frobnicate"], ["frobnicate"]),
    ("usage-unknown-option", CHAT + ["--bogus", "q"], ["--bogus", "longva chat --help"]),
    ("usage-missing-model", ["info"], ["--model"]),
    ("usage-missing-value", ["niah", "run", "--model", S, "--out", "{out}", "--fps"], ["--fps"]),
    ("usage-int-not-int", CHAT + ["--frames", "many", "q"], ["--frames"]),
    ("usage-float-not-float", CHAT + ["--temperature", "hot", "q"], ["--temperature"]),
    ("usage-missing-config", ["train", "text"], ["--config"]),
    ("usage-unknown-subcommand", ["train", "sideways"], ["sideways"]),
    ("usage-missing-needles-out", ["niah", "needles"], ["'out'"]),
    ("usage-seed-not-int", ["reproduce", "--seed", "first"], ["--seed"]),
    ("usage-ablate-seeds-0", ["ablate", "run", "{plan_nonsense}", "--seeds", "0"], ["--seeds"]),
    ("usage-ablate-threads-0", ["ablate", "run", "{plan_nonsense}", "--threads", "0"], ["--threads"]),
    ("usage-port-not-int", ["serve", "--model", S, "--port", "http"], ["--port"]),
    ("usage-eval-missing-data", ["eval", "videomme", "--model", S], ["--data"]),
    # -- text encodings: arguments, stdin and files are strict UTF-8
    ("utf8-question-arg", CHAT + ["caf\udce9 ?"], ["not UTF-8", "0xe9"]),
    ("utf8-out-arg", ["niah", "run", "--model", S, "--out", "o\udcff"], ["--out", "not UTF-8"]),
    ("utf8-model-arg", ["info", "--model", "m\udc80"], ["--model", "not UTF-8"]),
    ("utf8-set-arg", TRAIN + ["--set", "train.seed=\udcff"], ["--set", "not UTF-8"]),
    ("utf8-system-arg", CHAT + ["--system", "\udcc3", "q"], ["--system", "not UTF-8"]),
    ("utf8-stdin-question", CHAT, ["stdin", "not UTF-8"], b"what colour?\n\xff\xfe?\n"),
    ("utf8-config-latin1", ["train", "text", "--config", "{cfg_latin1}"], ["config file", "not UTF-8"]),
    ("utf8-config-binary", ["train", "text", "--config", "{cfg_binary}"], ["config file", "binary"]),
    ("utf8-align-config-binary", ["train", "align", "--config", "{cfg_binary}"], ["config file", "binary"]),
    ("utf8-recipe-config-binary", ["reproduce", "--config", "{cfg_binary}", "--out", "{out}"], ["binary"]),
    ("utf8-text-haystack-video", TEXT + ["--haystack", "{video}"], ["--haystack", "binary"]),
    ("utf8-text-haystack-latin1", TEXT + ["--haystack", "{latin1_txt}"], ["--haystack", "not UTF-8"]),
    ("utf8-text-haystack-bin", TEXT + ["--haystack", "{binary}"], ["--haystack", "binary"]),
    ("utf8-model-config-latin1", ["info", "--model", "{m_latin1}"], ["config.json", "not UTF-8"]),
    ("utf8-model-config-binary", ["info", "--model", "{m_binary}"], ["config.json", "binary"]),
    ("utf8-chat-config-binary", ["chat", "--model", "{m_binary}", "q"], ["config.json", "binary"]),
    ("utf8-niah-config-binary", ["niah", "run", "--model", "{m_binary}", "--out", "{out}"], ["config.json"]),
    ("utf8-text-config-binary", ["niah-text", "--model", "{m_binary}", "--out", "{out}"], ["config.json"]),
    # -- output locations: checked before any work, by every writer
    ("out-niah-is-file", NIAH[:4] + ["--out", "{file}"], ["--out", "is a file"]),
    ("out-niah-under-file", NIAH[:4] + ["--out", "{file}/run"], ["--out", "is a file"]),
    ("out-niah-proc", NIAH[:4] + ["--out", "/proc/longva-run"], ["--out", "not writable"]),
    ("out-niah-readonly-fs", NIAH, ["--out", "read-only"], None, "readonly"),
    ("out-niah-full-fs", NIAH, ["--out", "full"], None, "full"),
    ("out-niah-cache-is-file", NIAH + ["--cache-dir", "{file}"], ["--cache-dir", "is a file"]),
    ("out-niah-cache-under-file", NIAH + ["--cache-dir", "{file}/c"], ["--cache-dir", "is a file"]),
    ("out-text-is-file", ["niah-text", "--model", S, "--out", "{file}"], ["--out", "is a file"]),
    ("out-text-readonly-fs", TEXT, ["--out", "read-only"], None, "readonly"),
    ("out-plot-is-dir", ["niah", "plot", "{file}", "--out", "{empty_dir}"], ["--out", "is a folder"]),
    ("out-compare-is-file", ["niah", "compare", "{empty_dir}", "--out", "{file}"], ["--out", "is a file"]),
    ("out-needles-is-file", ["niah", "needles", "{file}"], ["OUT", "is a file"]),
    ("out-needles-under-file", ["niah", "needles", "{file}/n"], ["OUT", "is a file"]),
    ("out-train-is-file", ["train", "text", "--config", str(TOY_TEXT), "--set", "train.output_dir={file}"],
     ["train.output_dir", "is a file"]),
    ("out-train-full-fs", TRAIN, ["train.output_dir", "full"], None, "full"),
    ("out-align-is-file", ["train", "align", "--config", str(TOY_ALIGN), "--set", "train.output_dir={file}"],
     ["train.output_dir", "is a file"]),
    ("out-reproduce-is-file", ["reproduce", "--quick", "--out", "{file}"], ["--out", "is a file"]),
    ("out-reproduce-under-file", ["reproduce", "--quick", "--out", "{file}/r"], ["--out", "is a file"]),
    ("out-reproduce-readonly", REPRO, ["--out", "read-only"], None, "readonly"),
    ("out-reproduce-publish-file", REPRO + ["--publish", "{file}"], ["--publish", "is a file"]),
    ("out-ablate-is-file", ["ablate", "run", "{plan_nonsense}", "--out", "{file}"], ["--out", "is a file"]),
    ("out-ablate-cache-file", ["ablate", "run", "{plan_nonsense}", "--cache", "{file}"], ["--cache", "is a file"]),
    ("out-ablate-full-fs", ["ablate", "run", "{plan_nonsense}", "--out", "{out}"], ["--out", "full"], None, "full"),
    ("out-eval-is-file", EVAL[:6] + ["--out", "{file}"], ["--out", "is a file"]),
    ("out-eval-synthetic-file", ["eval", "videomme", "make-synthetic", "--out", "{file}"], ["--out", "is a file"]),
    # -- numbers: finite and bounded, grids bounded in size, never silently defaulted
    ("num-frames-nan", NIAH + ["--frames", "nan"], ["--frames", "not finite"]),
    ("num-frames-empty", NIAH + ["--frames", ""], ["--frames", "empty"]),
    ("num-frames-huge-range", NIAH + ["--frames", "1:1e12:1"], ["--frames", "at most"]),
    ("num-frames-inf-stop", NIAH + ["--frames", "1:inf:1"], ["--frames", "not finite"]),
    ("num-frames-zero", NIAH + ["--frames", "0"], ["--frames", ">= 1"]),
    ("num-frames-negative", NIAH + ["--frames", "-8"], ["--frames", ">= 1"]),
    ("num-frames-fraction", NIAH + ["--frames", "1.5"], ["--frames", "whole number"]),
    ("num-frames-reversed", NIAH + ["--frames", "3000:200:200"], ["--frames", "greater than stop"]),
    ("num-frames-zero-step", NIAH + ["--frames", "1:5:0"], ["--frames", "step"]),
    ("num-frames-four-fields", NIAH + ["--frames", "1:2:3:4"], ["--frames", "start:stop:step"]),
    ("num-frames-words", NIAH + ["--frames", "a,b"], ["--frames", "not a number"]),
    ("num-frames-empty-item", NIAH + ["--frames", "4,,8"], ["--frames", "empty item"]),
    ("num-frames-long-list", NIAH + ["--frames", ",".join(["1"] * 10_001)], ["--frames", "at most"]),
    ("num-depths-nan", NIAH + ["--depths", "nan"], ["--depths", "not finite"]),
    ("num-depths-inf-range", NIAH + ["--depths", "0:inf:0.5"], ["--depths", "not finite"]),
    ("num-depths-above-1", NIAH + ["--depths", "0,1.5"], ["--depths", "<= 1"]),
    ("num-depths-negative", NIAH + ["--depths", "-0.1"], ["--depths", ">= 0"]),
    ("num-depths-empty", NIAH + ["--depths", " "], ["--depths", "empty"]),
    ("num-depths-negative-step", NIAH + ["--depths", "0:1:-0.1"], ["--depths", "step"]),
    ("num-niah-fps-0", NIAH + ["--fps", "0"], ["--fps", "> 0"]),
    ("num-niah-fps-nan", NIAH + ["--fps", "nan"], ["--fps", "not finite"]),
    ("num-niah-fps-negative", NIAH + ["--fps", "-1"], ["--fps", "> 0"]),
    ("num-niah-haystack-frames-0", NIAH + ["--haystack-frames", "0"], ["--haystack-frames", ">= 1"]),
    ("num-niah-chunk-0", NIAH + ["--chunk-size", "0"], ["--chunk-size", ">= 1"]),
    ("num-niah-rope-0", NIAH + ["--rope-theta", "0"], ["--rope-theta", "> 0"]),
    ("num-niah-rope-inf", NIAH + ["--rope-theta", "inf"], ["--rope-theta", "not finite"]),
    ("num-niah-saturation-2", NIAH + ["--haystack-saturation", "2"], ["--haystack-saturation", "<= 1"]),
    ("num-niah-needles-0", NIAH + ["--synthetic-needles", "0"], ["--synthetic-needles", ">= 1"]),
    ("num-niah-needle-size-0", NIAH + ["--needle-size", "0"], ["--needle-size", ">= 16"]),
    ("num-niah-needle-size-huge", NIAH + ["--needle-size", "100000"], ["--needle-size", "<= 4096"]),
    ("num-niah-multi-k-1", NIAH + ["--task", "multi", "--multi-k", "1"], ["--multi-k", ">= 2"]),
    ("num-niah-multi-k-9", NIAH + ["--task", "multi", "--multi-k", "9"], ["--multi-k", "<= 6"]),
    ("num-niah-distractors-neg", NIAH + ["--distractors", "-1"], ["--distractors", ">= 0"]),
    ("num-niah-max-count-0", NIAH + ["--max-count", "0"], ["--max-count", ">= 1"]),
    ("num-niah-max-new-tokens-0", NIAH + ["--max-new-tokens", "0"], ["--max-new-tokens", ">= 1"]),
    ("num-text-lengths-nan", TEXT + ["--lengths", "nan"], ["--lengths", "not finite"]),
    ("num-text-lengths-empty", TEXT + ["--lengths", ""], ["--lengths", "empty"]),
    ("num-text-lengths-huge", TEXT + ["--lengths", "1:1e15:1"], ["--lengths", "at most"]),
    ("num-text-depths-2", TEXT + ["--depths", "2"], ["--depths", "<= 1"]),
    ("num-text-samples-0", TEXT + ["--samples", "0"], ["--samples", ">= 1"]),
    ("num-text-digits-0", TEXT + ["--digits", "0"], ["--digits", ">= 1"]),
    ("num-text-digits-huge", TEXT + ["--digits", "500"], ["--digits", "<= 64"]),
    ("num-text-distractors-neg", TEXT + ["--distractors", "-2"], ["--distractors", ">= 0"]),
    ("num-text-rope-neg", TEXT + ["--rope-theta", "-5"], ["--rope-theta", "> 0"]),
    ("num-text-chunk-0", TEXT + ["--chunk-size", "0"], ["--chunk-size", ">= 1"]),
    ("num-chat-frames-0", CHAT + ["--frames", "0", "q"], ["--frames", ">= 1"]),
    ("num-chat-fps-0", CHAT + ["--video", "{video}", "--fps", "0", "q"], ["--fps", "> 0"]),
    ("num-chat-fps-nan", CHAT + ["--fps", "nan", "q"], ["--fps", "not finite"]),
    ("num-chat-fps-inf", CHAT + ["--fps", "inf", "q"], ["--fps", "not finite"]),
    ("num-chat-start-neg", CHAT + ["--start", "-1", "q"], ["--start", ">= 0"]),
    ("num-chat-end-0", CHAT + ["--end", "0", "q"], ["--end", "> 0"]),
    ("num-chat-max-new-0", CHAT + ["--max-new-tokens", "0", "q"], ["--max-new-tokens", ">= 1"]),
    ("num-chat-temperature-neg", CHAT + ["--temperature", "-1", "q"], ["--temperature", ">= 0"]),
    ("num-chat-temperature-nan", CHAT + ["--temperature", "nan", "q"], ["--temperature", "not finite"]),
    ("num-chat-top-p-0", CHAT + ["--top-p", "0", "q"], ["--top-p", "> 0"]),
    ("num-chat-top-p-2", CHAT + ["--top-p", "1.5", "q"], ["--top-p", "<= 1"]),
    ("num-needles-n-0", ["niah", "needles", "{out}", "--n", "0"], ["--n", ">= 1"]),
    ("num-needles-size-0", ["niah", "needles", "{out}", "--size", "0"], ["--size", ">= 16"]),
    ("num-reproduce-threads-0", REPRO + ["--threads", "0"], ["--threads", ">= 1"]),
    ("num-reproduce-threads-neg", REPRO + ["--threads", "-2"], ["--threads", ">= 1"]),
    ("num-reproduce-seed-neg", REPRO + ["--seed", "-1"], ["--seed", ">= 0"]),
    ("num-reproduce-decoy-2", REPRO + ["--set", "stages.s0_text.decoy_fraction=2"],
     ["stages.s0_text.decoy_fraction", "[0, 1]"]),
    ("num-reproduce-row-spread-1", REPRO + ["--set", "stages.s1_long.row_len_spread=1"],
     ["stages.s1_long.row_len_spread", "[0, 1)"]),
    ("num-config-lr-nan", ["train", "text", "--config", "{cfg_nan_lr}"], ["train.optimizer.lr", "not finite"]),
    ("num-config-lr-inf", ["train", "text", "--config", "{cfg_inf_lr}"], ["train.optimizer.lr", "not finite"]),
    ("num-set-lr-nan", TRAIN + ["--set", "train.optimizer.lr=.nan"], ["train.optimizer.lr", "not finite"]),
    ("num-set-lr-text", TRAIN + ["--set", "train.optimizer.lr=fast"], ["train.optimizer.lr", "number"]),
    ("num-set-steps-0", TRAIN + ["--set", "train.steps=0"], ["train.steps", ">= 1"]),
    ("num-config-steps-text", ["train", "text", "--config", "{cfg_string_steps}"], ["train.steps", "integer"]),
    ("num-serve-port-big", ["serve", "--model", S, "--port", "70000"], ["--port", "65535"]),
    ("num-serve-queue-0", ["serve", "--model", S, "--max-queue", "0"], ["--max-queue", ">= 1"]),
    ("num-serve-request-nan", ["serve", "--model", S, "--max-request-mb", "nan"], ["--max-request-mb", "finite"]),
    ("num-eval-frames-words", EVAL + ["--frames", "x"], ["--frames"]),
    ("num-eval-limit-0", EVAL + ["--limit", "0"], ["--limit"]),
    ("num-eval-synthetic-0", ["eval", "videomme", "make-synthetic", "--out", "{out}", "--videos-per-duration", "0"],
     ["--videos-per-duration"]),
    # -- config files and checkpoints: validated at load, one line naming what is wrong
    ("cfg-missing", ["train", "text", "--config", "{empty_dir}/nope.yaml"], ["config file", "does not exist"]),
    ("cfg-is-dir", ["train", "text", "--config", "{empty_dir}"], ["config file", "is a folder"]),
    ("cfg-list", ["train", "text", "--config", "{cfg_list}"], ["config file", "mapping"]),
    ("cfg-python-tag", ["train", "text", "--config", "{cfg_python_tag}"], ["config file", "not valid"]),
    ("cfg-bad-yaml", ["train", "text", "--config", "{cfg_bad_yaml}"], ["config file", "not valid"]),
    ("cfg-unknown-key", ["train", "text", "--config", "{cfg_unknown}"], ["bogus_section"]),
    ("cfg-set-no-equals", TRAIN + ["--set", "train.steps"], ["--set", "key.path=value"]),
    ("cfg-set-unknown-key", TRAIN + ["--set", "train.bogus=1"], ["bogus"]),
    ("cfg-align-list", ["train", "align", "--config", "{cfg_list}"], ["config file", "mapping"]),
    ("cfg-align-missing", ["train", "align", "--config", "{empty_dir}/a.yaml"], ["does not exist"]),
    ("cfg-recipe-missing", ["reproduce", "--config", "{empty_dir}/r.yaml", "--out", "{out}"], ["does not exist"]),
    ("cfg-recipe-list", ["reproduce", "--config", "{cfg_list}", "--out", "{out}"], ["mapping"]),
    ("cfg-recipe-set-unknown", REPRO + ["--set", "stages.nope.steps=1"], ["nope"]),
    ("ckpt-info-missing", ["info", "--model", "{empty_dir}/none"], ["does not exist"]),
    ("ckpt-info-is-file", ["info", "--model", "{file}"], ["--model", "is a file"]),
    ("ckpt-info-no-config", ["info", "--model", "{m_no_config}"], ["config.json"]),
    ("ckpt-info-config-list", ["info", "--model", "{m_list}"], ["config.json", "a list"]),
    ("ckpt-info-not-json", ["info", "--model", "{m_not_json}"], ["config.json", "not valid JSON"]),
    ("ckpt-info-hidden-big", ["info", "--model", "{m_big}"], ["config.json", "big"]),
    ("ckpt-info-wrong-type", ["info", "--model", "{m_type}"], ["config.json", "bert"]),
    ("ckpt-chat-missing", ["chat", "--model", "{empty_dir}/none", "q"], ["--model", "does not exist"]),
    ("ckpt-chat-is-file", ["chat", "--model", "{file}", "q"], ["--model", "is a file"]),
    ("ckpt-chat-config-list", ["chat", "--model", "{m_list}", "q"], ["config.json", "a list"]),
    ("ckpt-chat-hidden-big", ["chat", "--model", "{m_big}", "q"], ["config.json", "big"]),
    ("ckpt-chat-shape", ["chat", "--model", "{m_shape}", "q"], ["shape", "(64, 256)", "(64, 128)"]),
    ("ckpt-chat-pickle-payload", ["chat", "--model", "{m_pickle}", "q"], ["pytorch_model.bin"]),
    ("ckpt-niah-is-file", ["niah", "run", "--model", "{file}", "--out", "{out}"], ["--model", "is a file"]),
    ("ckpt-niah-missing", ["niah", "run", "--model", "{empty_dir}/x", "--out", "{out}"], ["does not exist"]),
    ("ckpt-niah-config-list", ["niah", "run", "--model", "{m_list}", "--out", "{out}"], ["config.json", "a list"]),
    ("ckpt-niah-shape", ["niah", "run", "--model", "{m_shape}", "--out", "{out}", "--preset", "smoke"],
     ["shape"]),
    ("ckpt-text-is-file", ["niah-text", "--model", "{file}", "--out", "{out}"], ["--model", "is a file"]),
    ("ckpt-text-config-list", ["niah-text", "--model", "{m_list}", "--out", "{out}"], ["config.json", "a list"]),
    ("ckpt-text-no-config", ["niah-text", "--model", "{m_no_config}", "--out", "{out}"], ["config.json"]),
    ("ckpt-serve-missing", ["serve", "--model", "{empty_dir}/none"], ["--model", "not a folder"]),
    # -- inputs of the wrong kind
    ("kind-chat-video-missing", CHAT + ["--video", "{empty_dir}/v.mp4", "q"], ["v.mp4", "not found"]),
    ("kind-chat-video-binary", CHAT + ["--video", "{binary}", "q"], ["binary"]),
    ("kind-chat-image-missing", CHAT + ["--image", "{empty_dir}/i.png", "q"], ["i.png", "not found"]),
    ("kind-chat-image-text", CHAT + ["--image", "{latin1_txt}", "q"], ["latin1.txt"]),
    ("kind-chat-frame-mode", CHAT + ["--frame-mode", "stretch", "q"], ["stretch"]),
    ("kind-chat-dtype", CHAT + ["--dtype", "fp7", "q"], ["fp7"]),
    ("kind-chat-device", CHAT + ["--device", "tpu", "q"], ["tpu"]),
    ("kind-niah-mode", NIAH + ["--mode", "beam"], ["--mode", "beam"]),
    ("kind-niah-task", NIAH + ["--task", "juggling"], ["juggling"]),
    ("kind-niah-needle-kinds", NIAH + ["--needle-kinds", "square,hologram"], ["--needle-kinds", "hologram"]),
    ("kind-niah-preset", NIAH + ["--preset", "galactic"], ["galactic"]),
    ("kind-niah-model-type", NIAH + ["--model-type", "gpt9"], ["gpt9"]),
    ("kind-niah-haystack-missing", NIAH + ["--haystack", "{empty_dir}/h.mp4"], ["h.mp4"]),
    ("kind-niah-haystack-binary", NIAH + ["--haystack", "{binary}"], ["binary"]),
    ("kind-niah-needles-missing", NIAH + ["--needles", "{empty_dir}/needles"], ["needles"]),
    ("kind-niah-needles-file", NIAH + ["--needles", "{file}"], ["file"]),
    ("kind-plot-missing", ["niah", "plot", "{empty_dir}/acc.json"], ["acc.json"]),
    ("kind-plot-binary", ["niah", "plot", "{binary}"], ["binary"]),
    ("kind-compare-missing", ["niah", "compare", "{empty_dir}/run", "--out", "{out}"], ["run"]),
    ("kind-needles-kinds", ["niah", "needles", "{out}", "--kinds", "hologram"], ["hologram"]),
    ("kind-needles-background", ["niah", "needles", "{out}", "--background", "lava"], ["lava"]),
    ("kind-text-haystack-missing", TEXT + ["--haystack", "{empty_dir}/book.txt"], ["--haystack", "does not exist"]),
    ("kind-text-haystack-empty", TEXT + ["--haystack", "{empty_txt}"], ["--haystack", "empty"]),
    ("kind-text-haystack-no-txt", TEXT + ["--haystack", "{text_dir}"], ["--haystack", "no .txt"]),
    ("kind-text-mode", TEXT + ["--mode", "beam"], ["--mode", "beam"]),
    ("kind-text-preset", TEXT + ["--preset", "galactic"], ["galactic"]),
    ("kind-reproduce-seeds-words", REPRO + ["--seeds", "a,b"], ["--seeds"]),
    ("kind-reproduce-seeds-empty", REPRO + ["--seeds", ""], ["--seeds"]),
    ("kind-ablate-plan-missing", ["ablate", "run", "{empty_dir}/plan.md"], ["plan.md", "does not exist"]),
    ("kind-ablate-plan-empty", ["ablate", "run", "{plan_empty}"], ["empty"]),
    ("kind-ablate-vniah-grid", ["ablate", "run", "{plan_nonsense}", "--vniah-grid", "sideways"], ["sideways"]),
    ("kind-ablate-recipe-missing", ["ablate", "run", "{plan_good}", "--recipe", "{empty_dir}/r.yaml"],
     ["r.yaml"]),
    ("kind-ablate-plugin-missing", ["ablate", "run", "{plan_nonsense}", "--plugin", "no_such_module_xyz"],
     ["no_such_module_xyz"]),
    ("kind-ablate-parse-missing", ["ablate", "parse", "{empty_dir}/p.md"], ["p.md"]),
    ("kind-eval-data-missing", EVAL[:4] + ["--data", "{empty_dir}/vmme", "--out", "{out}"], ["vmme"]),
    ("kind-eval-durations", EVAL + ["--durations", "eternal"], ["--durations"]),
    ("kind-serve-log-level", ["serve", "--model", S, "--log-level", "loud"], ["--log-level"]),
]


def _statvfs_patch(kind: str):
    real = os.statvfs

    def fake(path):
        st = real(path)
        fields = list(st)
        if kind == "readonly":
            fields[8] |= os.ST_RDONLY  # f_flag
        else:
            fields[4] = 0  # f_bavail: no block left for this user
        return os.statvfs_result(fields)

    return fake


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return build_inputs(tmp_path_factory.mktemp("bad_inputs"))


def _snapshot(folder) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def _argv(args: list[str], inputs: dict, out) -> list[str]:
    names = {name: str(path) for name, path in inputs.items()}
    names.update(model=str(inputs["model"]), out=str(out), plan=str(inputs["plan_nonsense"]))
    return [a.format(**names) if "{" in a else a for a in args]


def test_the_table_covers_every_command_and_class():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids)) >= 120
    commands = {case[1][0] for case in CASES}
    assert {"chat", "info", "niah", "niah-text", "train", "reproduce", "ablate", "eval", "serve"} <= commands
    for cls in ("usage", "utf8", "out", "num", "cfg", "ckpt", "kind"):
        assert sum(i.startswith(cls + "-") for i in ids) >= 5, cls


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, inputs, tmp_path, capsys, monkeypatch):
    name, args, expected = case[:3]
    stdin = case[3] if len(case) > 3 else None
    patch = case[4] if len(case) > 4 else None
    out = tmp_path / "out"
    argv = _argv(args, inputs, out)
    monkeypatch.chdir(tmp_path)  # a default output folder (runs/...) would land here
    monkeypatch.setenv("LONGVA_CACHE", str(tmp_path / "cache"))
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    if patch is not None:
        monkeypatch.setattr(os, "statvfs", _statvfs_patch(patch))
    guarded = inputs["model"].parent
    before = _snapshot(guarded)

    code = main(argv)

    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, (name, captured.err[-2000:])
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("error: "), line
    for word in expected:
        assert word in line, (word, line)
    assert "Traceback" not in captured.err + captured.out
    assert "the payload ran" not in captured.err + captured.out  # no pickle was ever executed
    assert _snapshot(guarded) == before
    assert not out.exists(), f"{name}: {out} was created before the error"
    assert not (tmp_path / "runs").exists()
