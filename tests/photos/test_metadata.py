"""What a file says about itself: colour profile, capture date (exiftool's precedence), camera strings,
the photographer's description. Real files from the larger media set where one shows the case."""

from __future__ import annotations

import datetime as dt
import io
import os

import numpy as np
import pytest
from PIL import Image, ImageCms

from jaicat.photos import imaging
from jaicat.photos.ingest import ingest_file, thumb_path

P3_PHONE_PHOTO = "heic_real/immich_IMG_2682.heic"  # an iPhone 7 HEIC with a Display P3 profile


def _jpeg(path, exif=None, xmp: bytes | None = None, icc: bytes | None = None, pixels=None):
    im = Image.fromarray(pixels) if pixels is not None else Image.new("RGB", (64, 48), (120, 130, 140))
    kw = {"quality": 95}
    if exif is not None:
        kw["exif"] = exif
    if xmp is not None:
        kw["xmp"] = xmp
    if icc is not None:
        kw["icc_profile"] = icc
    im.save(path, "JPEG", **kw)
    return path


def _exif(ifd0: dict | None = None, sub: dict | None = None) -> Image.Exif:
    e = Image.Exif()
    for k, v in (ifd0 or {}).items():
        e[k] = v
    s = e.get_ifd(0x8769)
    for k, v in (sub or {}).items():
        s[k] = v
    return e


def _saturated() -> np.ndarray:
    a = np.zeros((200, 300, 3), np.uint8)
    a[:, :100], a[:, 100:200], a[:, 200:] = (0, 210, 0), (230, 20, 20), (40, 60, 200)
    return a


def test_thumbnails_are_converted_to_srgb_from_the_embedded_profile(settings, full_media_dir, tmp_path):
    p3 = imaging.open_image(full_media_dir / P3_PHONE_PHOTO).info["icc_profile"]
    src = _jpeg(tmp_path / "p3.jpg", icc=p3, pixels=_saturated())
    photo = ingest_file(src, settings).photo
    with Image.open(thumb_path(settings, photo, 1280)) as t:
        thumb = np.asarray(t.convert("RGB"), dtype=float)
    with Image.open(src) as im:
        unmanaged = np.asarray(im.convert("RGB"), dtype=float)
        managed = np.asarray(ImageCms.profileToProfile(
            im, ImageCms.ImageCmsProfile(io.BytesIO(p3)), ImageCms.createProfile("sRGB"), outputMode="RGB"),
            dtype=float)
    off_before = np.abs(unmanaged - managed).mean()
    off_now = np.abs(thumb - managed).mean()
    print(f"mean difference to a colour-managed decode: unmanaged {off_before:.1f}, thumbnail {off_now:.1f}")
    assert off_before > 6  # what the grid showed before: P3 values read as sRGB
    assert off_now < 2  # JPEG noise only
    assert (settings.inbox / photo.path).read_bytes() == src.read_bytes()  # the original is untouched


def test_a_real_display_p3_phone_photo_is_managed(full_media_dir):
    path = full_media_dir / P3_PHONE_PHOTO
    shown = np.asarray(imaging.open_upright(path, max_side=512), dtype=float)
    with imaging.open_image(path) as im:
        icc = im.info["icc_profile"]
        ref = ImageCms.profileToProfile(im.convert("RGB"), ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                        ImageCms.createProfile("sRGB"), outputMode="RGB")
    ref.thumbnail((512, 512), Image.Resampling.BOX)
    assert np.abs(shown - np.asarray(ref, dtype=float)).mean() < 1.5


def test_subseconds_and_offset_tell_two_frames_of_one_second_apart(tmp_path):
    frames = []
    for n, sub in enumerate(("05", "55")):
        f = _jpeg(tmp_path / f"hdr{n}.jpg", _exif({0x0110: "X-T4"}, {
            0x9003: "2024:07:14 18:30:05", 0x9291: sub, 0x9011: "+02:00"}))
        frames.append(imaging.read_facts(imaging.open_image(f)))
    assert [f.taken_at for f in frames] == [dt.datetime(2024, 7, 14, 18, 30, 5, 50000),
                                            dt.datetime(2024, 7, 14, 18, 30, 5, 550000)]
    assert {(f.taken_offset, f.date_source) for f in frames} == {("+02:00", "exif:DateTimeOriginal")}


def test_an_editors_save_time_is_not_the_capture_date(settings, tmp_path):
    gimp = {0x0131: "GIMP 2.4.5", 0x0132: "2008:03:01 10:00:00"}
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
           b'photoshop:DateCreated="2003-06-21T09:15:00+01:00"/></rdf:RDF></x:xmpmeta>')
    resaved = imaging.read_facts(imaging.open_image(_jpeg(tmp_path / "a.jpg", _exif(gimp), xmp=xmp)))
    assert (resaved.taken_at, resaved.taken_offset, resaved.date_source) == (
        dt.datetime(2003, 6, 21, 9, 15), "+01:00", "xmp:photoshop:DateCreated")
    # nothing but the editor's date: the file's own time is the last resort, and says so
    bare = _jpeg(tmp_path / "b.jpg", _exif(gimp))
    os.utime(bare, (1_057_000_000, 1_057_000_000))  # 2003-07-01
    photo = ingest_file(bare, settings).photo
    assert photo.date_source == "file" and photo.taken_at.year == 2003
    # a camera's own ModifyDate (its firmware is not an editor) is a fair capture date
    cam = imaging.read_facts(imaging.open_image(_jpeg(tmp_path / "c.jpg", _exif(
        {0x0131: "Ver.1.00", 0x0132: "2010:05:05 12:00:00"}))))
    assert (cam.taken_at, cam.date_source) == (dt.datetime(2010, 5, 5, 12), "exif:ModifyDate")


def test_xmp_date_and_description_of_a_real_photo(full_media_dir):
    facts = imaging.read_facts(imaging.open_image(full_media_dir / "exif_real/immich_gps_thompson-springs.jpg"))
    assert facts.date_source.startswith(("xmp:", "iptc:")) and facts.taken_at.year == 2022
    assert facts.description.startswith("Early winter scene")


@pytest.mark.parametrize("name,subsec", [("heic_real/pillowheif_xiaomi.heic", 732000),
                                         ("heic_real/immich_IMG_2682.heic", 348000)])
def test_real_phone_photos_keep_their_subseconds(full_media_dir, name, subsec):
    facts = imaging.read_facts(imaging.open_image(full_media_dir / name))
    assert facts.taken_at.microsecond == subsec and facts.date_source == "exif:DateTimeOriginal"


def test_camera_strings_end_at_the_first_nul(tmp_path):
    f = _jpeg(tmp_path / "n.jpg", _exif({0x010F: "NIKON\x00\x00", 0x0110: "ION230\x00F",
                                          0x010E: "OLYMPUS DIGITAL CAMERA"}))
    facts = imaging.read_facts(imaging.open_image(f))
    assert (facts.camera_make, facts.camera_model) == ("NIKON", "ION230")
    assert facts.description is None  # camera boilerplate is not the photographer's words


def test_the_photographers_description_is_kept(settings, tmp_path):
    f = _jpeg(tmp_path / "d.jpg", _exif({0x010E: "Grandma's 90th, in the garden"}))
    assert ingest_file(f, settings).photo.description == "Grandma's 90th, in the garden"


def _pentax_note(header: bytes, order: str, date: tuple[int, int, int], time: tuple[int, int, int]) -> bytes:
    """A Pentax maker note as the cameras write it: header, byte order, an IFD with Date (0x0006:
    big-endian year, month, day) and Time (0x0007) stored in their entries, plus a tag they skip."""
    bo = "big" if order == "MM" else "little"

    def entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
        return (tag.to_bytes(2, bo) + kind.to_bytes(2, bo) + count.to_bytes(4, bo) + value.ljust(4, b"\0"))

    ifd = (3).to_bytes(2, bo) + entry(0x0001, 3, 1, (2).to_bytes(2, bo)) \
        + entry(0x0006, 7, 4, date[0].to_bytes(2, "big") + bytes(date[1:])) + entry(0x0007, 7, 3, bytes(time))
    return header + order.encode() + ifd + b"\0\0\0\0"


@pytest.mark.parametrize("header,order", [(b"AOC\x00", "MM"), (b"AOC\x00", "II"), (b"PENTAX \x00", "II")])
def test_a_pentax_maker_note_dates_a_photo_without_exif_dates(tmp_path, header, order):
    note = _pentax_note(header, order, (2011, 8, 27), (16, 4, 59))
    # the camera's ModifyDate (firmware, not an editor) comes after the maker note in the precedence
    exif = _exif({0x010F: "PENTAX", 0x0131: "K-5 Ver 1.00", 0x0132: "2011:09:01 10:00:00"}, {0x927C: note})
    facts = imaging.read_facts(imaging.open_image(_jpeg(tmp_path / "imgp.jpg", exif)))
    assert (facts.taken_at, facts.taken_offset, facts.date_source) == (
        dt.datetime(2011, 8, 27, 16, 4, 59), None, "makernote:Pentax")
    # XMP and IPTC dates come first
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreateDate="2011-08-27T16:05:00"/>'
           b'</rdf:RDF></x:xmpmeta>')
    facts = imaging.read_facts(imaging.open_image(_jpeg(tmp_path / "x.jpg", exif, xmp=xmp)))
    assert facts.date_source == "xmp:xmp:CreateDate"


def test_maker_notes_without_a_date_or_with_a_bad_one_are_passed_over():
    from jaicat.photos.metadata import maker_note_time

    assert maker_note_time(b"Apple iOS\x00\x00\x01MM\x00\x00") is None
    assert maker_note_time(_pentax_note(b"AOC\x00", "MM", (2011, 13, 40), (0, 0, 0))) is None
    assert maker_note_time(b"AOC\x00MM\xff\xff") is None  # a count running past the end
    assert maker_note_time(None) is None


def test_a_real_vision_pro_photo_keeps_its_gmt_offset(full_media_dir):
    """visionOS writes no DateTimeOriginal and an XMP CreateDate with the zone as 'GMT+02:00'."""
    facts = imaging.read_facts(imaging.open_image(full_media_dir / "heic_real/pillowheif_spatial_photo.heic"))
    assert (facts.taken_at, facts.taken_offset, facts.date_source) == (
        dt.datetime(2024, 4, 22, 14, 38, 9, 526000), "+02:00", "xmp:xmp:CreateDate")
