"""XMP sidecars: what digiKam, Lightroom, darktable, PhotoPrism and Immich will see of Jaicat's work."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from jaicat import events, xmp
from jaicat.cli.main import main as cli_main
from jaicat.people.persons import sync_face_tags
from jaicat.db import Decision, Face, Person, Photo, PhotoTag, Region, Tag
from jaicat.xmp.geometry import stored_to_upright, upright_to_stored

# boxes on the upright 640x480 test scene (red band along the top, blue along the left, black "F"
# stem at x 200-240, y 120-400), top-left normalised, with the colour their pixels must have
RED, BLUE, BLACK = (220, 30, 30), (30, 30, 220), (0, 0, 0)
SCENE_BOXES = {
    "red band": ((100 / 640, 5 / 480, 500 / 640, 45 / 480), RED),
    "blue band": ((5 / 640, 100 / 480, 45 / 640, 330 / 480), BLUE),
    "F stem": ((205 / 640, 170 / 480, 30 / 640, 220 / 480), BLACK),
}


def mean_colour(im: Image.Image, box) -> tuple[float, float, float]:
    x, y, w, h = box
    W, H = im.size
    crop = im.convert("RGB").crop((round(x * W), round(y * H), round((x + w) * W), round((y + h) * H)))
    return tuple(float(c) for c in np.asarray(crop).reshape(-1, 3).mean(axis=0))


def close(c1, c2, tol=40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(c1, c2, strict=True))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_regions_round_trip_through_stored_pixels(settings, add_photo, media_dir, orientation):
    src = media_dir / "exif" / f"orientation_{orientation}.jpg"
    photo = add_photo(settings, src, rel=f"scene/o{orientation}.jpg")
    for label, (box, _) in SCENE_BOXES.items():
        Region.create(photo=photo, x=box[0], y=box[1], w=box[2], h=box[3], label=label)

    sidecar = xmp.write_photo_sidecar(photo, settings)
    assert sidecar.name == f"o{orientation}.jpg.xmp"
    data = xmp.read_sidecar(sidecar)
    stored = Image.open(src)  # no exif_transpose: the pixels exactly as the file stores them
    assert data["dims"] == stored.size
    by_name = {r["name"]: r for r in data["regions"]}
    for label, (_, colour) in SCENE_BOXES.items():
        r = by_name[label]
        got = mean_colour(stored, (r["x"], r["y"], r["w"], r["h"]))
        assert close(got, colour), f"{label} on stored image of orientation {orientation}: {got}"

    # reading the sidecar back onto a fresh catalogue row lands on the same upright boxes
    Region.delete().execute()
    added = xmp.apply_xmp_to_photo(photo, settings)
    assert added["regions"] == 3
    for label, (box, _) in SCENE_BOXES.items():
        row = Region.get(Region.label == label)
        assert row.source == "xmp"
        assert (row.x, row.y, row.w, row.h) == pytest.approx(box, abs=1e-4)


def test_box_conversion_is_invertible_for_every_orientation():
    box = (0.1, 0.2, 0.3, 0.15)
    for o in range(1, 9):
        assert stored_to_upright(upright_to_stored(box, o), o) == pytest.approx(box, abs=1e-9)
    assert upright_to_stored(box, 1) == pytest.approx(box)
    assert upright_to_stored(box, 3) == pytest.approx((0.6, 0.65, 0.3, 0.15))


@pytest.fixture
def people_photo(settings, media_dir, add_photo) -> Photo:
    """A filed photo with a confirmed face, a guessed one, tags (one removed by the user) and a caption."""
    photo = add_photo(settings, media_dir / "exif" / "orientation_1.jpg", rel="2024/Beach/IMG_1.jpg")
    amy = Person.create(name="Amy H")
    Face.create(photo=photo, x=0.5, y=0.25, w=0.125, h=0.25, encoding=b"\0" * 512, person=amy, confirmed=True)
    guess = Person.create(name="Guessed")
    Face.create(photo=photo, x=0.1, y=0.1, w=0.1, h=0.1, encoding=b"\0" * 512, person=guess, confirmed=False)
    PhotoTag.create(photo=photo, tag=Tag.named("beach"), source="clip", score=0.9)
    PhotoTag.create(photo=photo, tag=Tag.named("Places|Brighton"), source="user")
    PhotoTag.create(photo=photo, tag=Tag.named("rejected"), source="clip", removed=True)
    sync_face_tags([photo.id])  # as the faces pipeline does: "face" tags for every face, guesses too
    photo.caption = "two people on a beach"
    photo.save()
    return photo


def test_sidecar_carries_keywords_people_caption(settings, people_photo):
    photo = people_photo
    data = xmp.read_sidecar(xmp.write_photo_sidecar(photo, settings))
    assert data["keywords"] == ["Brighton", "beach", "Amy H"]
    assert data["hierarchical"] == ["Places|Brighton", "beach", "People|Amy H"]
    assert data["tagslist"] == ["Places/Brighton", "beach", "People/Amy H"]
    assert data["description"] == "two people on a beach"
    photo.caption = "two people and a kite on a beach"  # Jaicat's own caption is Jaicat's to update
    photo.save()
    assert xmp.read_sidecar(xmp.write_photo_sidecar(photo, settings))["description"] == photo.caption
    # an unconfirmed automatic match is not written as a fact
    assert [(r["name"], r["type"]) for r in data["regions"]] == [("Amy H", "Face")]
    assert data["regions"][0] | {} == pytest.approx(
        {"name": "Amy H", "type": "Face", "x": 0.5, "y": 0.25, "w": 0.125, "h": 0.25})


def test_nothing_to_say_writes_no_sidecar(settings, add_photo, media_dir):
    photo = add_photo(settings, media_dir / "exif" / "orientation_1.jpg")
    assert xmp.write_photo_sidecar(photo, settings) is None
    assert not list(settings.library.glob("*.xmp"))


DIGIKAM_SIDECAR = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dt="http://darktable.sf.net/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:acme="http://example.com/acme/1.0/"
    xmp:Rating="4" dt:xmp_version="5" digiKam:ColorLabel="3">
   <dt:history>
    <rdf:Seq>
     <rdf:li dt:operation="exposure" dt:enabled="1" dt:params="0000c0bf"/>
    </rdf:Seq>
   </dt:history>
   <dc:subject><rdf:Bag><rdf:li>Holiday</rdf:li></rdf:Bag></dc:subject>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">written in digiKam</rdf:li>
     <rdf:li xml:lang="fr-FR">ecrit dans digiKam</rdf:li></rdf:Alt></dc:description>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="640" stDim:h="480" stDim:unit="pixel"/>
    <mwg-rs:RegionList><rdf:Bag><rdf:li><rdf:Description mwg-rs:Name="Bob" mwg-rs:Type="Face">
      <mwg-rs:Area stArea:x="0.2" stArea:y="0.7" stArea:w="0.1" stArea:h="0.2" stArea:unit="normalized"/>
      <acme:Confidence>high</acme:Confidence>
    </rdf:Description></rdf:li></rdf:Bag></mwg-rs:RegionList>
   </mwg-rs:Regions>
   <acme:Project>Summer</acme:Project>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def test_other_tools_fields_are_preserved(settings, people_photo):
    photo = people_photo
    target = xmp.sidecar_path(settings.library / photo.path)
    target.write_text(DIGIKAM_SIDECAR, encoding="utf-8")

    xmp.write_photo_sidecar(photo, settings)
    text = target.read_text(encoding="utf-8")
    for kept in ('xmp:Rating="4"', 'dt:xmp_version="5"', 'digiKam:ColorLabel="3"', 'dt:operation="exposure"',
                 "<acme:Project>Summer</acme:Project>", "<acme:Confidence>high</acme:Confidence>",
                 'xml:lang="fr-FR"', 'xmlns:dt="http://darktable.sf.net/"'):
        assert kept in text
    data = xmp.read_sidecar(target)
    assert data["keywords"] == ["Brighton", "beach", "Amy H", "Holiday"]
    assert data["description"] == "written in digiKam"  # the user's words, not the machine caption
    assert {r["name"] for r in data["regions"]} == {"Amy H", "Bob"}

    # the user removes a tag in Jaicat: it leaves the sidecar; the digiKam keyword stays
    PhotoTag.update(removed=True).where(PhotoTag.tag == Tag.get(name="beach")).execute()
    xmp.write_photo_sidecar(photo, settings)
    assert xmp.read_sidecar(target)["keywords"] == ["Brighton", "Amy H", "Holiday"]

    # writing again with nothing new changes nothing, byte for byte
    before = target.read_bytes()
    xmp.write_photo_sidecar(photo, settings)
    assert target.read_bytes() == before

    if shutil.which("exiftool"):  # and the merged packet is still XMP that other tools read whole
        tags = exiftool(target)
        assert tags["Rating"] == 4 and tags["ColorLabel"] == 3 and tags["Project"] == "Summer"
        assert tags["History"] == [{"Enabled": 1, "Operation": "exposure", "Params": "0000c0bf"}]
        assert {r["Name"] for r in tags["RegionInfo"]["RegionList"]} == {"Bob", "Amy H"}


def exiftool(path) -> dict:
    out = subprocess.run(["exiftool", "-j", "-struct", "-XMP:all", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def test_malformed_sidecar_is_left_alone(settings, people_photo):
    photo = people_photo
    target = xmp.sidecar_path(settings.library / photo.path)
    target.write_bytes(b"<x:xmpmeta><unclosed>")
    with pytest.raises(xmp.XMPError):
        xmp.write_photo_sidecar(photo, settings)
    assert target.read_bytes() == b"<x:xmpmeta><unclosed>"


def test_entity_tricks_are_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>' \
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>'
    with pytest.raises(xmp.XMPError):
        xmp.read_xmp_bytes(bomb)


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool (libimage-exiftool-perl) not installed")
def test_exiftool_reads_our_regions_and_keywords(settings, people_photo):
    photo = people_photo
    tags = exiftool(xmp.write_photo_sidecar(photo, settings))
    assert tags["Subject"] == ["Brighton", "beach", "Amy H"]
    assert tags["HierarchicalSubject"] == ["Places|Brighton", "beach", "People|Amy H"]
    assert tags["TagsList"] == ["Places/Brighton", "beach", "People/Amy H"]
    assert tags["Description"] == "two people on a beach"
    info = tags["RegionInfo"]
    assert info["AppliedToDimensions"] == {"W": 640, "H": 480, "Unit": "pixel"}
    (region,) = info["RegionList"]
    assert region["Name"] == "Amy H" and region["Type"] == "Face"
    assert region["Area"] == {"X": 0.5625, "Y": 0.375, "W": 0.125, "H": 0.25, "Unit": "normalized"}
    (mp,) = tags["RegionInfoMP"]["Regions"]
    assert mp == {"Rectangle": "0.5, 0.25, 0.125, 0.25", "PersonDisplayName": "Amy H"}


LIGHTROOM_SIDECAR = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
 xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
 xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
 dc:description="harbour at dusk">
 <dc:subject><rdf:Bag><rdf:li>harbour</rdf:li><rdf:li>Amy H</rdf:li></rdf:Bag></dc:subject>
 <lr:hierarchicalSubject><rdf:Bag><rdf:li>Places|Harbour Town</rdf:li><rdf:li>People|Amy H</rdf:li>
 </rdf:Bag></lr:hierarchicalSubject>
 <mwg-rs:Regions><rdf:Description>
  <mwg-rs:AppliedToDimensions><rdf:Description stDim:w="480" stDim:h="640" stDim:unit="pixel"/>
  </mwg-rs:AppliedToDimensions>
  <mwg-rs:RegionList><rdf:Bag><rdf:li rdf:parseType="Resource"><mwg-rs:Name>Amy H</mwg-rs:Name>
   <mwg-rs:Type>Face</mwg-rs:Type>
   <mwg-rs:Area stArea:x="0.5" stArea:y="0.5" stArea:w="0.2" stArea:h="0.1" stArea:unit="normalized"/>
  </rdf:li></rdf:Bag></mwg-rs:RegionList></rdf:Description></mwg-rs:Regions>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_import_reads_lightroom_sidecar_next_to_the_source(settings, add_photo, media_dir, tmp_path):
    camera = tmp_path / "camera"
    camera.mkdir()
    shutil.copyfile(media_dir / "exif" / "orientation_6.jpg", camera / "DSC_9.jpg")
    (camera / "DSC_9.xmp").write_bytes(LIGHTROOM_SIDECAR)  # Lightroom names it without the .jpg
    photo = add_photo(settings, camera / "DSC_9.jpg", root="inbox", rel="DSC_9.jpg")

    added = xmp.apply_xmp_to_photo(photo, settings, source=camera / "DSC_9.jpg")
    assert added == {"tags": 3, "regions": 1, "caption": True}
    tags = {pt.tag.name: pt.source for pt in photo.tags}
    assert tags == {"harbour": "xmp", "Harbour Town": "xmp", "Amy H": "xmp"}
    assert Photo.get_by_id(photo.id).description == "harbour at dusk"  # the user's words, own field
    region = Region.get(Region.photo == photo)
    assert (region.label, region.source) == ("Amy H", "xmp-face")
    # stored centre (0.5, 0.5) size 0.2 x 0.1 on the sideways sensor image -> upright 0.1 x 0.2
    assert (region.x, region.y, region.w, region.h) == pytest.approx((0.45, 0.4, 0.1, 0.2))
    # the sidecar travels with the photo so other tools' fields survive filing
    assert (settings.inbox / "DSC_9.jpg.xmp").read_bytes() == LIGHTROOM_SIDECAR

    assert xmp.apply_xmp_to_photo(photo, settings, source=camera / "DSC_9.jpg") == {
        "tags": 0, "regions": 0, "caption": False}

    # written back, the imported metadata keeps Lightroom's shape: no flat duplicates of its hierarchy
    data = xmp.read_sidecar(xmp.write_photo_sidecar(photo, settings))
    assert sorted(data["hierarchical"]) == ["People|Amy H", "Places|Harbour Town", "harbour"]
    assert sorted(data["keywords"]) == ["Amy H", "Harbour Town", "harbour"]
    assert [(r["name"], r["type"]) for r in data["regions"]] == [("Amy H", "Face")]
    assert data["regions"][0] | {} == pytest.approx({"name": "Amy H", "type": "Face", "x": 0.4, "y": 0.45,
                                                      "w": 0.2, "h": 0.1})


def test_embedded_xmp_is_read(settings, add_photo, media_dir, tmp_path):
    src = tmp_path / "embedded.jpg"
    im = Image.open(media_dir / "exif" / "orientation_1.jpg")
    im.save(src, exif=im.getexif(), xmp=LIGHTROOM_SIDECAR)
    photo = add_photo(settings, src, root="inbox")
    assert xmp.read_embedded(settings.inbox / "embedded.jpg")["keywords"] == ["harbour", "Amy H"]
    assert xmp.apply_xmp_to_photo(photo, settings)["tags"] == 3


def test_photo_without_xmp_is_a_cheap_no_op(settings, add_photo, media_dir):
    photo = add_photo(settings, media_dir / "exif" / "orientation_3.jpg", root="inbox")
    assert xmp.apply_xmp_to_photo(photo, settings) is None
    heic = add_photo(settings, media_dir / "heic" / "upright.heic", root="inbox")
    assert xmp.apply_xmp_to_photo(heic, settings) is None
    assert PhotoTag.select().count() == 0 and Region.select().count() == 0


def test_sidecar_follows_a_filing_decision(settings, people_photo):
    photo = people_photo
    old_file = settings.library / photo.path
    inbox_sidecar = settings.inbox / "IMG_1.jpg.xmp"
    inbox_sidecar.write_text(DIGIKAM_SIDECAR, encoding="utf-8")
    # what filing leaves behind: the photo moved from the inbox into the library, a decision row
    decision = Decision.create(photo=photo, action="file", from_root="inbox", from_path="IMG_1.jpg",
                               to_root="library", to_path=photo.path)
    written = xmp.follow_decision(decision, settings)
    assert written == xmp.sidecar_path(old_file)
    assert not inbox_sidecar.exists()
    data = xmp.read_sidecar(written)
    assert "Holiday" in data["keywords"] and "Amy H" in data["keywords"]


@pytest.fixture
def sidecar_writer(settings):
    with xmp.SidecarWriter(settings) as writer:
        yield writer


def test_sidecar_writer_writes_sidecars_when_photos_are_filed(settings, add_photo, media_dir, monkeypatch,
                                                              sidecar_writer):
    from jaicat.photos import library

    calls = []
    real = xmp.write_photo_sidecar
    monkeypatch.setattr(xmp, "write_photo_sidecar", lambda p, s: calls.append(p.id) or real(p, s))
    sidecar_writer.connect()  # connecting again keeps one receiver, not two
    photo = add_photo(settings, media_dir / "exif" / "orientation_8.jpg", root="inbox")
    PhotoTag.create(photo=photo, tag=Tag.named("sunset"), source="user")
    library.file_photo(photo, "2024/Sunsets", settings)
    photo = Photo.get_by_id(photo.id)
    sidecar = xmp.sidecar_path(settings.library / photo.path)
    assert xmp.read_sidecar(sidecar)["keywords"] == ["sunset"]
    assert calls == [photo.id]
    # undo takes the photo back to the inbox, and its sidecar with it
    library.undo(settings)
    photo = Photo.get_by_id(photo.id)
    assert photo.root == "inbox" and not sidecar.exists()
    assert xmp.read_sidecar(xmp.sidecar_path(settings.inbox / photo.path))["keywords"] == ["sunset"]
    # a closed writer no longer follows filing
    sidecar_writer.close()
    library.file_photo(photo, "2024/Sunsets", settings)
    photo = Photo.get_by_id(photo.id)
    assert not xmp.sidecar_path(settings.library / photo.path).exists()
    assert calls == [photo.id]


def test_cli_xmp_write(settings, people_photo, add_photo, media_dir, capsys):
    photo = people_photo
    add_photo(settings, media_dir / "exif" / "orientation_2.jpg", rel="bare.jpg")  # nothing to write
    args = ["--data-dir", str(settings.data_dir), "xmp", "write"]
    assert cli_main(args) == 0
    assert "1 written" in capsys.readouterr().out
    target = xmp.sidecar_path(settings.library / photo.path)
    assert target.exists()
    PhotoTag.create(photo=photo, tag=Tag.named("sunny"), source="user")
    assert cli_main(args) == 0  # without --all, existing sidecars are left as they are
    assert "sunny" not in target.read_text()
    assert cli_main([*args, "--all"]) == 0
    assert "sunny" in xmp.read_sidecar(target)["keywords"]
    capsys.readouterr()
    assert cli_main(["--data-dir", str(settings.data_dir), "xmp", "read", str(target)]) == 0
    assert "sunny" in json.loads(capsys.readouterr().out)["keywords"]
    # a photo whose file went missing is reported, and gets no orphan sidecar
    (settings.library / "bare.jpg").unlink()
    assert cli_main([*args, "--all"]) == 1
    assert "bare.jpg is missing" in capsys.readouterr().err
    assert not (settings.library / "bare.jpg.xmp").exists()


def test_importing_a_folder_picks_up_its_sidecars(settings, media_dir, tmp_path, sidecar_writer):
    """Through the real import path: `jaicat import` of a digiKam-managed folder keeps its metadata."""
    from jaicat.photos.ingest import ingest_paths

    folder = tmp_path / "digikam"
    folder.mkdir()
    shutil.copyfile(media_dir / "exif" / "orientation_1.jpg", folder / "a.jpg")
    (folder / "a.jpg.xmp").write_text(DIGIKAM_SIDECAR, encoding="utf-8")
    shutil.copyfile(media_dir / "exif" / "orientation_6.jpg", folder / "b.jpg")  # no sidecar
    summary = ingest_paths([folder], settings)
    assert len(summary.imported) == 2 and not summary.rejected
    a = Photo.get(Photo.original_filename == "a.jpg")
    assert {(pt.tag.name, pt.source) for pt in a.tags} == {("Holiday", "xmp"), ("Bob", "xmp")}
    (bob,) = Region.select().where(Region.photo == a)
    assert (bob.label, bob.source) == ("Bob", "xmp-face")
    assert (bob.x, bob.y, bob.w, bob.h) == pytest.approx((0.15, 0.6, 0.1, 0.2))
    assert a.description == "written in digiKam"
    b = Photo.get(Photo.original_filename == "b.jpg")
    assert not list(b.tags) and not list(b.regions)
    assert (folder / "a.jpg.xmp").read_text(encoding="utf-8") == DIGIKAM_SIDECAR  # the user's file untouched


def test_xmp_is_imported_before_the_photo_is_ready_for_analysis(settings, media_dir, tmp_path, sidecar_writer):
    """The worker wakes on `photo_ready`: by then the sidecar's tags are in the catalogue, whatever
    order the receivers connected in."""
    from jaicat.photos import ingest

    seen = {}

    def ready(photo):
        seen[photo.id] = {pt.tag.name for pt in Photo.get_by_id(photo.id).tags}

    events.photo_ready.connect(ready)
    try:
        src = tmp_path / "a.jpg"
        shutil.copyfile(media_dir / "exif" / "orientation_1.jpg", src)
        (tmp_path / "a.jpg.xmp").write_text(DIGIKAM_SIDECAR, encoding="utf-8")
        photo = ingest.ingest_file(src, settings).photo
    finally:
        events.photo_ready.disconnect(ready)
    assert seen == {photo.id: {"Holiday", "Bob"}}


def test_without_a_connected_writer_ingest_leaves_xmp_alone(settings, media_dir, tmp_path):
    from jaicat.photos import ingest

    src = tmp_path / "a.jpg"
    shutil.copyfile(media_dir / "exif" / "orientation_1.jpg", src)
    (tmp_path / "a.jpg.xmp").write_text(DIGIKAM_SIDECAR, encoding="utf-8")
    photo = ingest.ingest_file(src, settings).photo
    assert not list(photo.tags) and not (settings.inbox / photo.path).with_suffix(".jpg.xmp").exists()


def test_heic_with_embedded_xmp(settings, add_photo, media_dir, tmp_path):
    src = tmp_path / "phone.heic"
    Image.open(media_dir / "heic" / "upright.heic").save(src, quality=50, xmp=LIGHTROOM_SIDECAR)
    photo = add_photo(settings, src, root="inbox")
    assert xmp.apply_xmp_to_photo(photo, settings)["tags"] == 3
    assert {pt.tag.name for pt in photo.tags} == {"harbour", "Harbour Town", "Amy H"}


def test_server_follows_face_confirmations_and_renames(settings, add_photo, media_dir):
    from jaicat.people import persons as people

    photo = add_photo(settings, media_dir / "exif" / "orientation_1.jpg", rel="Party/p.jpg")
    face = Face.create(photo=photo, x=0.5, y=0.25, w=0.125, h=0.25, encoding=b"\0" * 512)
    sidecar = xmp.sidecar_path(settings.library / photo.path)
    writer = xmp.SidecarWriter(settings, follow=True).connect()
    try:
        people.confirm_face(face.id, "Amy H")
        assert wait_for(lambda: sidecar.exists() and "Amy H" in sidecar.read_text())
        people.rename_person("Amy H", "Amy Hall")
        assert wait_for(lambda: "People|Amy Hall" in xmp.read_sidecar(sidecar)["hierarchical"])
        data = xmp.read_sidecar(sidecar)
        assert "Amy H" not in data["keywords"] and [r["name"] for r in data["regions"]] == ["Amy Hall"]
        PhotoTag.create(photo=photo, tag=Tag.named("cake"), source="user")
        events.publish("photo.changed", photo_id=photo.id)  # what an API edit of tags announces
        assert wait_for(lambda: "cake" in xmp.read_sidecar(sidecar)["keywords"])
    finally:
        writer.close()


def test_server_writes_the_caption_pass_into_the_sidecar(settings, add_photo, media_dir):
    """A photo filed before its caption was written gets the caption in its sidecar when the caption
    pass announces it, not only at the photo's next change."""
    photo = add_photo(settings, media_dir / "exif" / "orientation_1.jpg", rel="Party/p.jpg")
    sidecar = xmp.sidecar_path(settings.library / photo.path)
    writer = xmp.SidecarWriter(settings, follow=True).connect()
    try:
        Photo.update(caption="A cake on a table").where(Photo.id == photo.id).execute()
        events.publish("photo.captioned", photo_id=photo.id, caption="A cake on a table", tags=[])
        assert wait_for(lambda: sidecar.exists() and xmp.read_sidecar(sidecar)["description"] == "A cake on a table")
    finally:
        writer.close()


def wait_for(condition, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_confident_automatic_matches_are_written_guesses_are_not(settings, people_photo):
    """Recognised people reach digiKam/Lightroom/Immich without confirming each by hand; a match
    near the tolerance (a guess) does not."""
    sure, unsure = Person.create(name="Sure S"), Person.create(name="Maybe M")
    Face.create(photo=people_photo, x=0.2, y=0.5, w=0.1, h=0.1, encoding=b"\0" * 512, person=sure, distance=0.42)
    Face.create(photo=people_photo, x=0.7, y=0.6, w=0.1, h=0.1, encoding=b"\0" * 512, person=unsure, distance=0.58)
    data = xmp.read_sidecar(xmp.write_photo_sidecar(people_photo, settings))
    assert {r["name"] for r in data["regions"]} == {"Amy H", "Sure S"}
    assert "People|Sure S" in data["hierarchical"] and "People|Maybe M" not in data["hierarchical"]


def test_reanalysis_keeps_the_photographers_description(settings, add_photo, media_dir, tmp_path):
    camera = tmp_path / "camera"
    camera.mkdir()
    shutil.copyfile(media_dir / "exif" / "orientation_6.jpg", camera / "DSC_9.jpg")
    (camera / "DSC_9.xmp").write_bytes(LIGHTROOM_SIDECAR)
    photo = add_photo(settings, camera / "DSC_9.jpg", root="inbox", rel="DSC_9.jpg")
    xmp.apply_xmp_to_photo(photo, settings, source=camera / "DSC_9.jpg")
    Photo.update(caption="a boat in a harbour").where(Photo.id == photo.id).execute()  # what analysis stores
    photo = Photo.get_by_id(photo.id)
    assert (photo.description, photo.caption) == ("harbour at dusk", "a boat in a harbour")
    from jaicat.search.query import search

    assert [h.photo.id for h in search(settings, "dusk")] == [photo.id]  # the user's words are searchable
