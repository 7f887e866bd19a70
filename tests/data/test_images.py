"""load_image: every mode becomes 8-bit RGB the way the module doc promises; bad files fail clearly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from longva.data.images import load_image
from longva.errors import InputError


def pixels(image: Image.Image) -> np.ndarray:
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)  # (H, W, 3)


def test_rgb_png_is_unchanged(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    assert np.array_equal(pixels(load_image(tmp_path / "a.png")), rgb)


def test_rgba_is_composited_on_black_by_default(tmp_path):
    # Colour left under a fully transparent pixel must not leak (convert("RGB") would keep it).
    rgba = np.array([[[200, 10, 10, 0], [10, 200, 10, 255], [200, 100, 0, 128]]], np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = pixels(load_image(tmp_path / "a.png"))
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[0, 1].tolist() == [10, 200, 10]
    np.testing.assert_allclose(out[0, 2], [100, 50, 0], atol=1)
    white = pixels(load_image(tmp_path / "a.png", background=(255, 255, 255)))
    assert white[0, 0].tolist() == [255, 255, 255] and white[0, 1].tolist() == [10, 200, 10]


def test_rgba_matches_llava_when_transparent_pixels_are_black(tmp_path):
    """The common encoder output: LLaVA's convert("RGB") and our compositing agree."""
    rgba = np.array([[[0, 0, 0, 0], [30, 60, 90, 255]]], np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    llava = np.asarray(Image.open(tmp_path / "a.png").convert("RGB")).astype(int)
    assert np.array_equal(pixels(load_image(tmp_path / "a.png")), llava)


def test_grayscale_and_palette_with_transparency(tmp_path):
    Image.fromarray(np.array([[0, 77, 255]], np.uint8), "L").save(tmp_path / "l.png")
    assert pixels(load_image(tmp_path / "l.png"))[0].tolist() == [[0] * 3, [77] * 3, [255] * 3]
    la = Image.fromarray(np.array([[[90, 0], [90, 255]]], np.uint8), "LA")
    la.save(tmp_path / "la.png")
    assert pixels(load_image(tmp_path / "la.png"))[0].tolist() == [[0] * 3, [90] * 3]
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "p.png", transparency=0)  # index 0 (red) is transparent
    assert pixels(load_image(tmp_path / "p.png"))[0].tolist() == [[0, 0, 0], [0, 0, 255]]


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(tmp_path / "cyan.jpg")
    assert Image.open(tmp_path / "cyan.jpg").mode == "CMYK"
    np.testing.assert_allclose(pixels(load_image(tmp_path / "cyan.jpg"))[8, 8], [0, 255, 255], atol=3)


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 1000, 32768, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    out = pixels(load_image(tmp_path / "g16.png"))[0, :, 0]
    assert out.tolist() == [0, 4, 128, 255]  # convert("RGB") would give [0, 255, 255, 255]


def test_webp_lossless_and_with_alpha(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (6, 6, 3), np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.webp", lossless=True)
    assert np.array_equal(pixels(load_image(tmp_path / "a.webp")), rgb)
    rgba = np.dstack([rgb, np.zeros((6, 6), np.uint8)])  # fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "b.webp", lossless=True)
    assert pixels(load_image(tmp_path / "b.webp")).max() == 0


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(tmp_path / "phone.jpg", exif=exif)
    assert load_image(tmp_path / "phone.jpg").size == (20, 40)


@pytest.mark.parametrize("kind,reason", [
    ("missing", "not found"),
    ("empty", "empty (0 bytes)"),
    ("text", "not a readable image"),
    ("truncated", "not a readable image"),
])
def test_bad_image_is_a_one_line_input_error_naming_the_file(tmp_path, kind, reason):
    path = tmp_path / f"{kind}.png"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("hello\nthis is text\n")
    elif kind == "truncated":
        rgb = np.random.default_rng(2).integers(0, 256, (64, 64, 3), np.uint8)
        Image.fromarray(rgb).save(tmp_path / "full.png")
        data = (tmp_path / "full.png").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as error:
        load_image(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and reason in message and "expected" in message
