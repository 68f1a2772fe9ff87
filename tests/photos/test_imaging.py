"""Decoding at reduced size: a JPEG is decoded at the smallest DCT scale that still gives the size asked."""

from __future__ import annotations

from PIL import Image

from jaicat.photos import imaging


def _jpeg(tmp_path, media_dir, size):
    source = Image.open(media_dir / "faces_labelled" / "2007_007763.jpg").convert("RGB")
    path = tmp_path / f"{size[0]}x{size[1]}.jpg"
    source.resize(size, Image.Resampling.BILINEAR).save(path, quality=90)
    return path


def test_a_12_mp_jpeg_wanted_1000_px_long_decodes_at_a_quarter(tmp_path, media_dir):
    for size, drafted in (((4000, 3000), (1000, 750)), ((4032, 3024), (1008, 756)), ((3000, 4000), (750, 1000))):
        path = _jpeg(tmp_path, media_dir, size)
        im = Image.open(path)
        im.draft("RGB", imaging.draft_size(im.size, 1000))
        assert im.size == drafted  # the 1/4 DCT scale, not 1/2
        assert max(imaging.open_upright(path, max_side=1000).size) == 1000


def test_draft_never_goes_below_the_size_asked(tmp_path, media_dir):
    path = _jpeg(tmp_path, media_dir, (4000, 3000))
    assert imaging.open_upright(path, max_side=1024).size == (1024, 768)  # 1/2, then downscaled
    assert imaging.open_upright(path, max_side=5000).size == (4000, 3000)
    assert imaging.draft_size((800, 600), 1000) == (800, 600)
