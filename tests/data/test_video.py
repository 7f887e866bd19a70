"""Video reading: exact frames for every sampling mode and strategy, VFR, frame dirs, errors.

The fixture videos show their own frame index (see conftest), so every test checks the frames a
decoder really returned, not just the indices the sampler asked for.
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from longva.data.video import (
    FrameClampWarning,
    fps_indices,
    load_video,
    open_video,
    probe_video,
    uniform_indices,
)
from longva.data.video_decode import SEEK_COST, plan_cost, plan_reads
from longva.data.video_timeline import (
    Timeline,
    read_packets,
    timeline_from_mp4_index,
    timeline_from_packets,
)
from longva.errors import InputError

STRATEGIES = ["seek", "sequential", "auto"]
FILES = ["h264_gop4", "h264_gop64", "mpeg4_gop4", "h264_mkv", "vfr_mp4", "vfr_mkv"]
CFR_FILES = ["h264_gop4", "h264_gop64", "mpeg4_gop4", "h264_mkv"]


def linspace(first: int, last: int, n: int) -> list[int]:
    return np.linspace(first, last, n, dtype=int).tolist()


# ---------------------------------------------------------------- probing


@pytest.mark.parametrize("name", FILES)
def test_probe_reports_frames_size_and_codec(videos, name):
    v = videos[name]
    info = probe_video(v.path)
    assert (info.num_frames, info.width, info.height) == (v.num_frames, 64, 64)
    assert info.codec == ("mpeg4" if name.startswith("mpeg4") else "h264")
    assert not info.is_frame_dir
    if v.timestamps is None:
        assert info.fps == pytest.approx(v.fps)
        assert info.duration == pytest.approx(v.num_frames / v.fps)


def test_mkv_without_frame_count_is_counted_from_packets(videos):
    v = videos["h264_mkv"]
    with av.open(str(v.path)) as container:
        assert container.streams.video[0].frames == 0  # the header has no count to trust
    assert probe_video(v.path).num_frames == v.num_frames


@pytest.mark.parametrize("name,interval", [("h264_gop4", 4), ("h264_gop64", 150 / 3), ("mpeg4_gop4", 4)])
def test_keyframe_interval_is_measured(videos, name, interval):
    assert probe_video(videos[name].path).keyframe_interval == pytest.approx(interval)


@pytest.mark.parametrize("name", ["h264_gop4", "h264_gop64", "mpeg4_gop4"])
def test_mp4_index_shortcut_agrees_with_counting_packets(videos, name):
    path = videos[name].path
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = list(read_packets(container, stream, path))
        from_index = timeline_from_mp4_index(stream, packets[:64], path)
        from_packets = timeline_from_packets(packets, stream)
    if not hasattr(av.stream.Stream, "index_entries"):  # PyAV < 16 (lmms-eval pins av<16): no index
        assert from_index is None and from_packets.exact  # the reader counts the packets instead
        return
    assert from_index is not None and from_index.exact and from_packets.exact
    assert np.array_equal(from_index.pts, from_packets.pts)
    assert np.array_equal(from_index.keyframes, from_packets.keyframes)


def test_truncated_mp4_with_index_up_front_counts_only_frames_present(tmp_path, frame_code):
    """The header promises 40 frames; the file holds 30 packets: the reader trusts the file."""
    path = tmp_path / "faststart.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:  # index first
        stream = container.add_stream("libx264", rate=4)
        stream.width = stream.height = 64
        stream.options = {"x264-params": "keyint=8:min-keyint=8:scenecut=0"}
        for i in range(40):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame_code.index_frame(i), format="rgb24")))
        container.mux(stream.encode(None))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.frames == 40
        cut = [p for p in container.demux(stream) if p.size][30].pos  # stored in decode order
    cut_path = tmp_path / "cut.mp4"
    cut_path.write_bytes(path.read_bytes()[:cut])
    assert probe_video(cut_path).num_frames == 30
    for strategy in STRATEGIES:
        clip = load_video(cut_path, num_frames=30, strategy=strategy)
        shown = frame_code.read_indices(clip.frames)
        # With B-frames the 30 packets are not frames 0..29; each frame sits at its own time.
        assert shown == np.round(clip.timestamps * 4).astype(int).tolist()
        assert shown == sorted(set(shown))


# ---------------------------------------------------------------- sampling


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", FILES)
def test_uniform_sampling_returns_the_exact_frames(videos, frame_code, name, strategy):
    v = videos[name]
    for n in (1, 7, v.num_frames):
        clip = load_video(v.path, num_frames=n, strategy=strategy)
        expected = linspace(0, v.num_frames - 1, n)  # LongVA's np.linspace(0, total-1, N, dtype=int)
        assert clip.indices.tolist() == expected
        assert frame_code.read_indices(clip.frames) == expected
        assert clip.frames.shape == (n, 64, 64, 3) and clip.frames.dtype == np.uint8
        assert not clip.clamped


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", CFR_FILES)
def test_fps_sampling_uses_longva_stride(videos, frame_code, name, strategy):
    v = videos[name]
    clip = load_video(v.path, fps=1, strategy=strategy)
    expected = list(range(0, v.num_frames, round(v.fps)))  # LongVA: range(0, len, round(avg_fps))
    assert clip.indices.tolist() == expected
    assert frame_code.read_indices(clip.frames) == expected
    np.testing.assert_allclose(clip.timestamps, np.array(expected) / v.fps)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_time_range_restricts_uniform_and_fps_sampling(videos, frame_code, strategy):
    v = videos["h264_gop4"]  # 40 frames at 4 fps: [2 s, 6 s) holds frames 8..23
    clip = load_video(v.path, num_frames=5, start=2.0, end=6.0, strategy=strategy)
    assert clip.indices.tolist() == [8, 11, 15, 19, 23]
    assert frame_code.read_indices(clip.frames) == [8, 11, 15, 19, 23]
    clip = load_video(v.path, fps=2, start=2.0, end=6.0, strategy=strategy)
    assert clip.indices.tolist() == list(range(8, 24, 2))
    assert frame_code.read_indices(clip.frames) == list(range(8, 24, 2))
    v = videos["h264_gop64"]  # 150 frames at 5 fps: from 10 s on = frames 50..149
    clip = load_video(v.path, num_frames=4, start=10.0, strategy=strategy)
    assert clip.indices.tolist() == [50, 83, 116, 149]
    assert frame_code.read_indices(clip.frames) == [50, 83, 116, 149]


def test_fps_with_num_frames_caps_the_samples_uniformly(videos, frame_code):
    v = videos["h264_gop64"]  # 1 fps -> every 5th of 150 frames = 30 samples, capped to 10
    clip = load_video(v.path, fps=1, num_frames=10)
    expected = [5 * i for i in linspace(0, 29, 10)]
    assert clip.indices.tolist() == expected
    assert frame_code.read_indices(clip.frames) == expected
    assert not clip.clamped


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", ["vfr_mp4", "vfr_mkv"])
def test_variable_frame_rate_keeps_real_times(videos, frame_code, name, strategy):
    v = videos[name]
    source = open_video(v.path)
    np.testing.assert_allclose(source.times(), v.timestamps, atol=1e-3)  # mkv keeps milliseconds
    expected = [i for i, t in enumerate(v.timestamps) if 1.0 <= t < 6.05]  # 1.0 and 6.05 are frame times
    clip = load_video(v.path, num_frames=len(expected), start=1.0, end=6.05, strategy=strategy)
    assert clip.indices.tolist() == expected
    assert frame_code.read_indices(clip.frames) == expected
    np.testing.assert_allclose(clip.timestamps, v.timestamps[expected], atol=1e-3)


@pytest.mark.parametrize("name", FILES)
def test_seek_lands_on_every_single_frame(videos, frame_code, name):
    """One seek per frame, including frames just before a keyframe (B-frame reordering)."""
    v = videos[name]
    source = open_video(v.path)
    for i in range(v.num_frames):
        ((indices, frames),) = list(source.iter_frames([i], strategy="seek"))
        assert indices.tolist() == [i]
        assert frame_code.read_indices(frames) == [i]


# ---------------------------------------------------------------- strategy choice


def test_auto_seeks_for_sparse_short_gop_and_streams_dense_long_gop(videos):
    short = open_video(videos["h264_gop4"].path)
    assert short.strategy_for(uniform_indices(40, 4)) == "seek"
    long = open_video(videos["h264_gop64"].path)
    assert long.strategy_for(uniform_indices(150, 32)) == "sequential"
    assert long.strategy_for(uniform_indices(150, 32), "seek") == "seek"
    assert short.strategy_for(uniform_indices(40, 4), "sequential") == "sequential"


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(1, 400),
    gop=st.integers(1, 80),
    picks=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=60),
)
def test_auto_plan_is_never_costlier_than_seek_or_sequential(total, gop, picks):
    timeline = Timeline(np.arange(total), np.arange(0, total, gop), Fraction(1, 1), exact=True)
    indices = np.sort(np.asarray([int(p * total) for p in picks]))
    costs = {}
    for strategy in STRATEGIES:
        runs = plan_reads(indices, timeline, strategy)
        assert [t for r in runs for t in r.targets] == np.unique(indices).tolist()
        for r in runs:  # a seek starts at the keyframe of its first target
            assert not r.seek or r.start == timeline.keyframe_before(r.targets[0])
        costs[strategy] = plan_cost(runs, SEEK_COST)
    assert costs["auto"] <= min(costs["seek"], costs["sequential"]) + 1e-9


# ---------------------------------------------------------------- streaming


def test_iter_frames_streams_batches_and_repeats_frames(videos, frame_code):
    source = open_video(videos["h264_gop64"].path)
    wanted = [0, 0, 5, 70, 71, 71, 149]
    batches = list(source.iter_frames(wanted, batch_size=3))
    assert [len(idx) for idx, _ in batches] == [3, 3, 1]
    assert [b.shape for _, b in batches] == [(3, 64, 64, 3), (3, 64, 64, 3), (1, 64, 64, 3)]
    assert np.concatenate([idx for idx, _ in batches]).tolist() == wanted
    assert frame_code.read_indices(np.concatenate([b for _, b in batches])) == wanted
    again = np.concatenate([b for _, b in source.iter_frames(wanted, batch_size=3)])
    assert np.array_equal(again, np.concatenate([b for _, b in batches]))  # no shared decoder state


def test_iter_frames_rejects_unsorted_or_out_of_range_indices(videos):
    source = open_video(videos["h264_gop4"].path)
    with pytest.raises(ValueError):
        list(source.iter_frames([5, 2]))
    with pytest.raises(ValueError):
        list(source.iter_frames([40]))
    with pytest.raises(ValueError):
        list(source.iter_frames([1], strategy="fastest"))


# ---------------------------------------------------------------- frame directories


def _frame_dir(path, frame_code, n=12):
    path.mkdir()
    for i in range(n):  # mixed formats; natural order puts frame_2 before frame_10
        suffix = (".png", ".webp", ".jpg")[i % 3]
        options = {"lossless": True} if suffix == ".webp" else {}
        Image.fromarray(frame_code.index_frame(i)).save(path / f"frame_{i}{suffix}", **options)
    (path / "notes.txt").write_text("not a frame")
    return path


def test_frame_directory_reads_like_a_video(tmp_path, frame_code):
    directory = _frame_dir(tmp_path / "frames", frame_code)
    info = probe_video(directory)
    assert (info.num_frames, info.width, info.height, info.is_frame_dir) == (12, 64, 64, True)
    clip = load_video(directory, num_frames=4)
    assert clip.indices.tolist() == linspace(0, 11, 4)
    assert frame_code.read_indices(clip.frames) == linspace(0, 11, 4)
    assert clip.strategy_used == "direct"
    clip = load_video(directory, fps=1, dir_fps=4)  # 4 frames per second -> every 4th
    assert frame_code.read_indices(clip.frames) == [0, 4, 8]
    np.testing.assert_allclose(clip.timestamps, [0, 1, 2])


def test_frame_directory_errors_name_the_problem(tmp_path, frame_code):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no frame images"):
        probe_video(empty)
    directory = _frame_dir(tmp_path / "frames", frame_code, n=3)
    odd = directory / "frame_3.png"
    Image.new("RGB", (32, 64)).save(odd)
    with pytest.raises(InputError) as error:
        load_video(directory, num_frames=4)
    assert str(odd) in str(error.value) and "32x64" in str(error.value)


# ---------------------------------------------------------------- bad input


@pytest.fixture
def bad_files(tmp_path, videos, audio_only):
    good = videos["h264_gop4"].path.read_bytes()
    files = {
        "missing": (tmp_path / "missing.mp4", "not found"),
        "empty": (tmp_path / "empty.mp4", "empty (0 bytes)"),
        "text": (tmp_path / "notes.mp4", "cannot be read as a video"),
        "garbage": (tmp_path / "garbage.mp4", "cannot be read as a video"),
        "truncated": (tmp_path / "truncated.mp4", "cannot be read as a video"),  # index at the end
        "audio": (audio_only, "no video stream (streams: audio)"),
    }
    files["empty"][0].write_bytes(b"")
    files["text"][0].write_text("this is a text file, not a video\n")
    files["garbage"][0].write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    files["truncated"][0].write_bytes(good[: len(good) // 2])
    return files


@pytest.mark.parametrize("kind", ["missing", "empty", "text", "garbage", "truncated", "audio"])
def test_bad_video_is_a_one_line_input_error_naming_the_file(bad_files, kind):
    path, reason = bad_files[kind]
    with pytest.raises(InputError) as error:
        load_video(path, num_frames=4)
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message and reason in message and "expected" in message


def test_bad_sampling_arguments_are_input_errors(videos):
    path = videos["h264_gop4"].path  # 10 s long
    for kwargs, words in [
        ({}, "num_frames and/or fps"),
        ({"num_frames": 0}, "num_frames >= 1"),
        ({"fps": -1}, "fps > 0"),
        ({"num_frames": 4, "start": 5, "end": 5}, "start < end"),
        ({"num_frames": 4, "start": 12}, "no frame in the time range"),
    ]:
        with pytest.raises(InputError, match=words) as error:
            load_video(path, **kwargs)
        assert str(path) in str(error.value)


# ---------------------------------------------------------------- clamping


def test_more_frames_than_available_clamps_and_says_so(videos, frame_code):
    path = videos["h264_gop4"].path  # 40 frames
    with pytest.warns(FrameClampWarning) as record:
        clip = load_video(path, num_frames=100)
    assert clip.clamped
    assert clip.indices.tolist() == list(range(40))
    assert frame_code.read_indices(clip.frames) == list(range(40))
    message = str(record[0].message)
    assert "\n" not in message and str(path) in message and "100" in message and "40" in message


def test_clamping_applies_to_time_ranges_and_high_fps(videos):
    path = videos["h264_gop4"].path  # 4 fps
    with pytest.warns(FrameClampWarning, match="only 4 are available"):
        clip = load_video(path, num_frames=10, start=1.0, end=2.0)
    assert clip.clamped and clip.indices.tolist() == [4, 5, 6, 7]
    with pytest.warns(FrameClampWarning, match="10 fps"):
        clip = load_video(path, fps=10)
    assert clip.clamped and clip.indices.tolist() == list(range(40))


def test_no_clamp_warning_when_enough_frames(videos):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FrameClampWarning)
        clip = load_video(videos["h264_gop4"].path, num_frames=40)
    assert not clip.clamped


# ---------------------------------------------------------------- index functions


@given(total=st.integers(1, 5000), n=st.integers(1, 5000))
def test_uniform_indices_match_longva_or_return_all(total, n):
    expected = linspace(0, total - 1, n) if n <= total else list(range(total))
    assert uniform_indices(total, n).tolist() == expected


@pytest.mark.parametrize("video_fps", [23.976, 24, 25, 29.97, 30, 59.94])
def test_fps_indices_match_longva_one_fps(video_fps):
    assert fps_indices(1000, video_fps, 1).tolist() == list(range(0, 1000, round(video_fps)))
    assert fps_indices(1000, video_fps, 2, 100, 200).tolist() == list(range(100, 200, round(video_fps / 2)))
