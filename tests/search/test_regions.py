"""Regions: CRUD with crop embeddings, similar-region search (index + tail), annotation import/export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from jaicat.db import Photo, Region, blob_to_vec
from jaicat.errors import InvalidInput, NotFound
from jaicat.search.query import Indexes
from jaicat.search.regions import (
    create_region,
    delete_region,
    export_annotations,
    import_annotations,
    list_regions,
    region_crop,
    similar_regions,
    update_region,
)


def test_create_update_delete_list(ml_settings, add_photos):
    (photo,) = add_photos(1)
    r = create_region(ml_settings, photo.id, 0.1, 0.2, 0.3, 0.4, label=" red car ")
    assert (r.x, r.y, r.w, r.h, r.label) == (0.1, 0.2, 0.3, 0.4, "red car")
    emb = blob_to_vec(Region.get_by_id(r.id).embedding)
    assert emb.shape == (16,) and abs(np.linalg.norm(emb) - 1) < 1e-4
    r2 = update_region(ml_settings, r.id, label="blue car")
    assert r2.label == "blue car" and bytes(Region.get_by_id(r.id).embedding) == bytes(emb.tobytes())
    update_region(ml_settings, r.id, x=0.5, w=0.5)
    moved = Region.get_by_id(r.id)
    assert (moved.x, moved.w) == (0.5, 0.5) and not np.allclose(blob_to_vec(moved.embedding), emb)
    assert [x.id for x in list_regions(photo.id)] == [r.id]
    assert [x.id for x in list_regions(label="blue car")] == [r.id]
    jpeg = region_crop(ml_settings, r.id)
    assert jpeg[:2] == b"\xff\xd8"
    delete_region(ml_settings, r.id)
    assert list_regions(photo.id) == []
    with pytest.raises(NotFound):
        delete_region(ml_settings, r.id)


def test_box_validation(ml_settings, add_photos):
    (photo,) = add_photos(1)
    for box in ((1.2, 0, 0.1, 0.1), (0.1, 0.1, 0, 0.2), (0.1, 0.1, -0.1, 0.2), ("a", 0, 1, 1)):
        with pytest.raises(InvalidInput):
            create_region(ml_settings, photo.id, *box)
    r = create_region(ml_settings, photo.id, 0.8, 0.8, 0.5, 0.5)  # clipped to the image
    assert (round(r.w, 6), round(r.h, 6)) == (0.2, 0.2)
    with pytest.raises(NotFound):
        create_region(ml_settings, 9999, 0, 0, 1, 1)


def test_crop_is_taken_from_the_upright_image(ml_settings, media_dir):
    """orientation_6.jpg is stored rotated; the red band must be at the top of the upright image."""
    from jaicat.photos.ingest import ingest_file
    from jaicat.search.regions import _crop

    photo = ingest_file(media_dir / "exif" / "orientation_6.jpg", ml_settings).photo
    top = np.asarray(_crop(ml_settings, photo, (0.2, 0.0, 0.6, 0.05)).convert("RGB"), dtype=float)
    r, g, b = top.reshape(-1, 3).mean(axis=0)
    assert r > 150 and g < 100 and b < 100


def test_similar_regions_complete_after_index_build(ml_settings, add_photos):
    photos = add_photos(4)
    indexes = Indexes(ml_settings)
    made = [create_region(ml_settings, p.id, x, 0.1, 0.3, 0.5, label=f"r{i}", indexes=indexes)
            for i, p in enumerate(photos) for x in (0.0, 0.4)]
    idx = indexes.regions
    idx.brute_force_below = 0
    idx.rebuild(wait=True)
    assert idx.uses_annoy
    query = made[0]
    before = similar_regions(ml_settings, query.id, k=20, indexes=indexes)
    assert query.id not in [r.id for r, _ in before] and len(before) == len(made) - 1
    scores = [s for _, s in before]
    assert scores == sorted(scores, reverse=True)
    # a region added after the build, on the same crop as the query, is found first (score ~1)
    twin = create_region(ml_settings, query.photo_id, query.x, query.y, query.w, query.h, label="twin",
                         indexes=indexes)
    after = similar_regions(ml_settings, query.id, k=3, indexes=indexes)
    assert after[0][0].id == twin.id and after[0][1] > 0.999
    # exact agreement with brute force over all stored embeddings
    q = blob_to_vec(Region.get_by_id(query.id).embedding)
    others = [(r.id, float(blob_to_vec(r.embedding) @ q)) for r in Region.select() if r.id != query.id]
    expected = [i for i, _ in sorted(others, key=lambda t: (-t[1], t[0]))][:5]
    assert [r.id for r, _ in similar_regions(ml_settings, query.id, k=5, indexes=indexes)] == expected
    # deleted regions disappear at once
    delete_region(ml_settings, twin.id, indexes=indexes)
    assert twin.id not in [r.id for r, _ in similar_regions(ml_settings, query.id, k=20, indexes=indexes)]


def test_regions_without_weights_are_stored_then_embedded(settings, add_photos, tiny_models):
    (photo,) = add_photos(1)
    r = create_region(settings, photo.id, 0.1, 0.1, 0.5, 0.5, label="later")
    assert Region.get_by_id(r.id).embedding is None
    from jaicat.errors import ModelUnavailable

    with pytest.raises(ModelUnavailable):
        similar_regions(settings, r.id)
    settings.clip_model = str(tiny_models["clip"])
    from jaicat.search.regions import embed_missing

    assert embed_missing(settings) == 1
    assert Region.get_by_id(r.id).embedding is not None


def _photo_with_size(ml_settings, tmp_path, name, size):
    from jaicat.photos.ingest import ingest_file

    src = tmp_path / "ann" / name
    src.parent.mkdir(exist_ok=True)
    Image.new("RGB", size, (int(size[0]) % 255, 90, 160)).save(src, "JPEG")
    return ingest_file(src, ml_settings).photo


def test_import_accepts_documented_variants(ml_settings, tmp_path):
    a = _photo_with_size(ml_settings, tmp_path, "beach.jpg", (200, 100))
    b = _photo_with_size(ml_settings, tmp_path, "park.jpg", (400, 300))
    c = _photo_with_size(ml_settings, tmp_path, "city.jpg", (100, 100))
    docs = [
        # canonical: name -> list, pixel xyxy
        {"beach.jpg": [{"label": "dog", "box": [20, 10, 120, 60]}],
         "missing.jpg": [{"label": "x", "box": [0, 0, 1, 1]}]},
        # {"images": [...]} with COCO bbox (xywh pixels) and "regions"
        {"images": [{"file": "park.jpg", "regions": [{"class": "bench", "bbox": [40, 30, 200, 150]}]}]},
        # flat list of records, normalised x/y/width/height
        [{"image": "city.jpg", "name": "tower", "x": 0.25, "y": 0.0, "width": 0.5, "height": 1.0}],
        # pixel boxes relative to a resized copy the annotator saw
        [{"filename": "park.jpg", "width": 200, "height": 150,
          "annotations": [{"label": "lamp", "xyxy": [100, 0, 150, 75]}, {"label": "broken", "box": [1, 2]}]}],
        # label -> box mapping per image, keyed by an absolute Windows path of the desktop scripts' machine
        {"C:\\Users\\amy\\Pictures\\city.jpg": {"sign": [0, 0, 50, 50], "car": [[50, 50, 100, 100]]}},
        # nested box object
        [{"path": "beach.jpg", "regions": [{"tag": "kite", "box": {"x": 0.5, "y": 0.5, "w": 0.25, "h": 0.25}}]}],
    ]
    reports = []
    for i, doc in enumerate(docs):
        f = tmp_path / f"ann{i}.json"
        f.write_text(json.dumps(doc))
        reports.append(import_annotations(ml_settings, f))
    assert reports[0].created == 1 and reports[0].unmatched == ["missing.jpg"]
    assert reports[3].created == 1 and len(reports[3].rejected) == 1
    got = {r.label: (r.photo_id, round(r.x, 3), round(r.y, 3), round(r.w, 3), round(r.h, 3))
           for r in Region.select()}
    assert got["dog"] == (a.id, 0.1, 0.1, 0.5, 0.5)
    assert got["bench"] == (b.id, 0.1, 0.1, 0.5, 0.5)
    assert got["tower"] == (c.id, 0.25, 0.0, 0.5, 1.0)
    assert got["lamp"] == (b.id, 0.5, 0.0, 0.25, 0.5)
    assert got["sign"] == (c.id, 0.0, 0.0, 0.5, 0.5) and got["car"] == (c.id, 0.5, 0.5, 0.5, 0.5)
    assert got["kite"] == (a.id, 0.5, 0.5, 0.25, 0.25)
    assert all(r.embedding is not None and r.source == "import" for r in Region.select())
    # re-import does not duplicate
    assert import_annotations(ml_settings, tmp_path / "ann0.json").created == 0


def test_export_then_import_round_trip(ml_settings, tmp_path):
    a = _photo_with_size(ml_settings, tmp_path, "one.jpg", (300, 200))
    create_region(ml_settings, a.id, 0.1, 0.2, 0.3, 0.4, label="cup")
    create_region(ml_settings, a.id, 0.5, 0.5, 0.25, 0.25, label="")
    out = tmp_path / "export.json"
    doc = export_annotations(ml_settings, out)
    assert doc == json.loads(out.read_text())
    assert list(doc) == [Photo.get_by_id(a.id).path]
    assert doc[Photo.get_by_id(a.id).path][0]["box"] == [0.1, 0.2, 0.4, 0.6]
    before = sorted((r.label, round(r.x, 5), round(r.y, 5), round(r.w, 5), round(r.h, 5)) for r in Region.select())
    Region.delete().execute()
    rep = import_annotations(ml_settings, out)
    after = sorted((r.label, round(r.x, 5), round(r.y, 5), round(r.w, 5), round(r.h, 5)) for r in Region.select())
    assert rep.created == 2 and after == before


def test_import_rejects_non_json(ml_settings, tmp_path):
    f = tmp_path / "bad.json"
    f.write_text("{nope")
    with pytest.raises(InvalidInput):
        import_annotations(ml_settings, f)
