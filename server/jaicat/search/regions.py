"""Regions: a labelled box on a photo whose crop is CLIP-embedded, and "find regions like this one".

Boxes are (x, y, w, h) normalised 0-1 on the upright (EXIF-oriented) image. Similar-region search
goes through a VectorIndex (annoy, rebuilt in the background, plus an exact tail of recent changes),
so a region added a moment ago is already found.

Annotation files (`import_annotations` / `export_annotations`, `jaicat regions import|export`).
The canonical shape, which export writes, maps a photo to its regions:

    {"Family/2024/beach.jpg": [{"label": "red car", "box": [x1, y1, x2, y2]}, ...], ...}

Accepted variants on import:
  * the top level may be that mapping, {"images": <mapping or list>}, or a list of records;
    a record is {"image"|"file"|"filename"|"path"|"name": ..., "regions"|"annotations"|"boxes"|"objects": [...]}
    or a flat {"image": ..., "label": ..., "box": ...} (one region per record);
  * or, per image, a mapping label -> box (or list of boxes): {"a.jpg": {"dog": [x1, y1, x2, y2]}};
  * a box is "box"/"xyxy"/"bbox_xyxy"/"coords": [x1, y1, x2, y2]; "bbox"/"xywh"/"rect": [x, y, w, h]
    (COCO style); keys x, y, w|width, h|height (also x1, y1, x2, y2), flat or nested under "box";
  * coordinates are pixels of the upright image unless all four are <= 1 (then normalised), or the
    file/record says "coordinates": "normalized"|"pixels"; a record may give the "width"/"height" the
    pixel boxes refer to (e.g. a resized copy);
  * the label is "label", "name", "class", "category" or "tag".
Photos are matched by path relative to the library/inbox, then by file name (catalogued path or
original upload name) when that is unique; unmatched images are reported, never guessed.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from peewee import fn
from PIL import Image

from ..photos import imaging
from ..config import Settings
from ..db import Photo, Region, blob_to_vec, vec_to_blob
from ..errors import InvalidInput, ModelUnavailable, NotFound
from ..photos.library import photo_file
from ..models.clip import embed_image_crops
from ..models.base import ModelCache
from .query import Indexes
from ..text import plain_text

log = logging.getLogger(__name__)


def region_dict(r: Region) -> dict:
    return {"id": r.id, "photo_id": r.photo_id, "x": r.x, "y": r.y, "w": r.w, "h": r.h, "label": r.label,
            "source": r.source, "created_at": r.created_at.isoformat() if r.created_at else None,
            "crop_url": f"/api/regions/{r.id}/crop"}


def _check_box(x, y, w, h) -> tuple[float, float, float, float]:
    try:
        x, y, w, h = (float(v) for v in (x, y, w, h))
    except (TypeError, ValueError):
        raise InvalidInput("a box needs numeric x, y, w, h") from None
    bx, by, bw, bh = x, y, w, h
    # clip to the image (tolerates rounding just outside it); in-bounds values are kept exactly
    if x < 0:
        x, w = 0.0, w + x
    if y < 0:
        y, h = 0.0, h + y
    if x + w > 1:
        w = 1.0 - x
    if y + h > 1:
        h = 1.0 - y
    if not (w > 1e-4 and h > 1e-4) or x >= 1 or y >= 1:
        raise InvalidInput(f"box ({bx}, {by}, {bw}, {bh}) is not inside the image (normalised 0-1)")
    return x, y, w, h


def get_region(region_id) -> Region:
    r = Region.get_or_none(Region.id == int(region_id))
    if r is None:
        raise NotFound(f"no region {region_id}")
    return r


def _crop(settings: Settings, photo: Photo, box, max_side: int = 2048) -> Image.Image:
    im = imaging.open_upright(photo_file(photo, settings), max_side=max_side)
    x, y, w, h = box
    W, H = im.size
    left, top = int(round(x * W)), int(round(y * H))
    right, bottom = max(left + 1, int(round((x + w) * W))), max(top + 1, int(round((y + h) * H)))
    return im.crop((left, top, min(right, W), min(bottom, H)))


def _embed(settings: Settings, photo: Photo, box, models: ModelCache | None) -> np.ndarray | None:
    try:
        return embed_image_crops(settings, [_crop(settings, photo, box)], models or ModelCache())[0]
    except ModelUnavailable as e:
        log.warning("region stored without embedding: %s", e.message)
        return None


def create_region(settings: Settings, photo_id, x, y, w, h, label: str = "", source: str = "user",
                  models: ModelCache | None = None, indexes: Indexes | None = None) -> Region:
    """Add a region to a photo and embed its crop (stored without embedding if CLIP is unavailable).

    `models`, `indexes`: the runtime's ModelCache and Indexes, here and below (private ones, loading
    CLIP and the embeddings anew, if not given).
    """
    photo = Photo.get_or_404(photo_id)
    box = _check_box(x, y, w, h)
    emb = _embed(settings, photo, box, models)
    r = Region.create(photo=photo, x=box[0], y=box[1], w=box[2], h=box[3], label=plain_text(str(label or ""), "region label").strip()[:200],
                      source=source, embedding=vec_to_blob(emb) if emb is not None else None)
    if emb is not None:
        (indexes or Indexes(settings)).regions.add(r.id, emb)
    return r


def update_region(settings: Settings, region_id, x=None, y=None, w=None, h=None, label=None,
                  models: ModelCache | None = None, indexes: Indexes | None = None) -> Region:
    """Change a region's box and/or label; a moved box is re-embedded."""
    r = get_region(region_id)
    old = (r.x, r.y, r.w, r.h)
    new = tuple(o if v is None else v for o, v in zip(old, (x, y, w, h), strict=True))
    if label is not None:
        r.label = plain_text(str(label), "region label").strip()[:200]
    if new != old:
        box = _check_box(*new)
        r.x, r.y, r.w, r.h = box
        emb = _embed(settings, r.photo, box, models)
        r.embedding = vec_to_blob(emb) if emb is not None else None
        r.save()
        if emb is not None:
            (indexes or Indexes(settings)).regions.add(r.id, emb)
        else:
            (indexes or Indexes(settings)).regions.remove(r.id)
    else:
        r.save()
    return r


def delete_region(settings: Settings, region_id, indexes: Indexes | None = None) -> None:
    r = get_region(region_id)
    r.delete_instance()
    (indexes or Indexes(settings)).regions.remove(r.id)


def list_regions(photo_id=None, label: str | None = None) -> list[Region]:
    q = Region.select().order_by(Region.photo, Region.id)
    if photo_id is not None:
        q = q.where(Region.photo == int(photo_id))
    if label:
        q = q.where(Region.label == label)
    return list(q)


def label_counts() -> list[dict]:
    """[{"label", "count"}] over labelled regions, most used first (then by label); unlabelled ones skipped.

    Labels are grouped exactly as stored (create/update already strip them), so "Car" and "car" are two.
    """
    n = fn.COUNT(Region.id)
    q = (Region.select(Region.label, n.alias("n")).where(Region.label != "")
         .group_by(Region.label).order_by(n.desc(), Region.label))
    return [{"label": r.label, "count": r.n} for r in q]


def similar_regions(settings: Settings, region_id, k: int = 20, models: ModelCache | None = None,
                    indexes: Indexes | None = None) -> list[tuple[Region, float]]:
    """The `k` regions whose crops look most like this one's (cosine, best first; itself excluded)."""
    r = get_region(region_id)
    index = (indexes or Indexes(settings)).regions
    if r.embedding is None:
        emb = _embed(settings, r.photo, (r.x, r.y, r.w, r.h), models)
        if emb is None:
            raise ModelUnavailable("similar regions need the CLIP model; run `jaicat models pull`")
        r.embedding = vec_to_blob(emb)
        r.save()
        index.add(r.id, emb)
    hits = index.query(blob_to_vec(r.embedding), k, exclude={r.id})
    rows = {x.id: x for x in Region.select().where(Region.id.in_([i for i, _ in hits]))}
    return [(rows[i], round(s, 4)) for i, s in hits if i in rows]


similar = similar_regions  # the name the design notes use


def embed_missing(settings: Settings, models: ModelCache | None = None, indexes: Indexes | None = None) -> int:
    """Embed regions stored without an embedding (e.g. created before the CLIP weights were pulled)."""
    models = models or ModelCache()
    index = (indexes or Indexes(settings)).regions
    n = 0
    for r in Region.select().where(Region.embedding.is_null()):
        emb = _embed(settings, r.photo, (r.x, r.y, r.w, r.h), models)
        if emb is None:
            break
        Region.update(embedding=vec_to_blob(emb)).where(Region.id == r.id).execute()
        index.add(r.id, emb)
        n += 1
    return n


def region_crop(settings: Settings, region_id, max_side: int = 512) -> bytes:
    """JPEG bytes of the region's crop (for the web layer's /api/regions/<id>/crop)."""
    r = get_region(region_id)
    im = _crop(settings, r.photo, (r.x, r.y, r.w, r.h))
    im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


# --- annotation files -------------------------------------------------------------------------------
@dataclass
class ImportReport:
    created: int = 0
    images: int = 0
    unmatched: list = field(default_factory=list)  # image names with no photo
    rejected: list = field(default_factory=list)  # (image, reason)

    def line(self) -> str:
        return (f"{self.created} regions on {self.images} photos; {len(self.unmatched)} images not in the "
                f"catalogue; {len(self.rejected)} regions rejected")


_IMAGE_KEYS = ("image", "file", "filename", "file_name", "path", "name", "image_path")
_LIST_KEYS = ("regions", "annotations", "boxes", "objects")
_LABEL_KEYS = ("label", "name", "class", "category", "tag")


def _records(doc) -> list[tuple[str, list, dict]]:
    """Normalise any accepted top level to [(image name, [region dicts], record-level options)]."""
    if isinstance(doc, dict) and "images" in doc and isinstance(doc["images"], (dict, list)):
        opts = {k: doc[k] for k in ("coordinates",) if k in doc}
        return [(n, regs, {**opts, **o}) for n, regs, o in _records(doc["images"])]
    if isinstance(doc, dict):
        return [rec for name, regs in doc.items() for rec in _records_of_image(name, regs)]
    if isinstance(doc, list):
        return [rec for rec in map(_record_of_entry, doc) if rec is not None]
    raise InvalidInput("annotation file: expected a JSON object of image names (or {\"images\": [...]}) "
                       f"or a list of records with one of the keys {', '.join(_IMAGE_KEYS)}")


def _records_of_image(name: str, regs) -> list[tuple[str, list, dict]]:
    """The records of one `{"image.jpg": ...}` entry: a list of regions, a label -> box mapping, or
    one record's fields."""
    if isinstance(regs, dict) and regs and all(_is_box_list(v) for v in regs.values()):
        # {"image.jpg": {"dog": [x1, y1, x2, y2], "cat": [[...], [...]]}}
        return [(name, [{"label": lab, "box": b} for lab, v in regs.items()
                        for b in (v if isinstance(v[0], list) else [v])], {})]
    if isinstance(regs, dict):
        return [(name, r, o) for _, r, o in _records([{"image": name, **regs}])]
    if isinstance(regs, list):
        return [(name, regs, {})]
    return []


def _record_of_entry(rec) -> tuple[str, list, dict] | None:
    """One record of a top-level list: its image name (under one of _IMAGE_KEYS), its regions (under
    one of _LIST_KEYS, or the record itself is one region) and its options; None without an image."""
    if not isinstance(rec, dict):
        return None
    name = next((rec[k] for k in _IMAGE_KEYS if isinstance(rec.get(k), str)), None)
    if name is None:
        return None
    opts = {k: rec[k] for k in ("coordinates", "width", "height") if k in rec}
    regs = next((rec[k] for k in _LIST_KEYS if isinstance(rec.get(k), list)), None)
    return name, regs if regs is not None else [rec], opts


def _is_box_list(v) -> bool:
    if isinstance(v, list) and len(v) == 4 and all(isinstance(x, (int, float)) for x in v):
        return True
    return isinstance(v, list) and bool(v) and all(_is_box_list(x) and not isinstance(x[0], list) for x in v)


def _box_of(reg: dict) -> tuple[list[float], str]:
    """([a, b, c, d], "xyxy"|"xywh") from any accepted box spelling."""
    for k in ("box", "bbox", "rect"):
        if isinstance(reg.get(k), dict):  # {"box": {"x": .., "y": .., "w": .., "h": ..}}
            return _box_of(reg[k])
    for k in ("box", "xyxy", "bbox_xyxy", "coords"):
        if k in reg:
            return [float(v) for v in reg[k]], "xyxy"
    for k in ("bbox", "xywh", "rect"):
        if k in reg:
            return [float(v) for v in reg[k]], "xywh"
    if all(k in reg for k in ("x1", "y1", "x2", "y2")):
        return [float(reg[k]) for k in ("x1", "y1", "x2", "y2")], "xyxy"
    w, h = reg.get("w", reg.get("width")), reg.get("h", reg.get("height"))
    if "x" in reg and "y" in reg and w is not None and h is not None:
        return [float(reg["x"]), float(reg["y"]), float(w), float(h)], "xywh"
    raise ValueError("no box (box/bbox/xyxy/xywh or x,y,w,h)")


def normalise_box(reg: dict, opts: dict, photo: Photo) -> tuple[float, float, float, float]:
    """(x, y, w, h) normalised on the upright image from one annotation entry."""
    vals, kind = _box_of(reg)
    if len(vals) != 4:
        raise ValueError("a box needs 4 numbers")
    a, b, c, d = vals
    x, y, w, h = (a, b, c - a, d - b) if kind == "xyxy" else (a, b, c, d)
    coords = str(reg.get("coordinates", opts.get("coordinates", ""))).lower()
    pixels = coords.startswith("pix") or (not coords.startswith("norm") and max(vals) > 1.0)
    if pixels:
        W = float(reg.get("image_width", opts.get("width") or photo.width))
        H = float(reg.get("image_height", opts.get("height") or photo.height))
        x, y, w, h = x / W, y / H, w / W, h / H
    if w <= 0 or h <= 0:
        raise ValueError("empty box")
    return _check_box(x, y, w, h)


def _photo_matcher():
    by_path, by_name = {}, {}
    for p in Photo.select(Photo.id, Photo.path, Photo.original_filename, Photo.root):
        by_path[p.path] = p.id
        for n in {Path(p.path).name, p.original_filename}:
            by_name.setdefault(n.lower(), set()).add(p.id)

    def match(name: str) -> int | None:
        name = name.replace("\\", "/").lstrip("./")
        if name in by_path:
            return by_path[name]
        ids = by_name.get(Path(name).name.lower(), set())
        return next(iter(ids)) if len(ids) == 1 else None

    return match


def import_annotations(settings: Settings, file: str | Path, source: str = "import",
                       models: ModelCache | None = None, indexes: Indexes | None = None,
                       progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Create regions from an annotation file (shapes in the module docstring). Re-importing the same
    file does not duplicate: an identical box+label on the same photo is skipped. `progress(done,
    total)` after each image."""
    try:
        doc = json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidInput(f"cannot read annotation file {file}: {e}") from None
    report = ImportReport()
    models = models or ModelCache()
    indexes = indexes or Indexes(settings)
    match = _photo_matcher()
    records = list(_records(doc))
    for done, (name, regs, opts) in enumerate(records, 1):
        if progress:
            progress(done - 1, len(records))
        pid = match(str(name))
        if pid is None:
            report.unmatched.append(name)
            continue
        photo = Photo.get_by_id(pid)
        existing = {(round(r.x, 4), round(r.y, 4), round(r.w, 4), round(r.h, 4), r.label) for r in photo.regions}
        made = 0
        for reg in regs:
            try:
                if not isinstance(reg, dict):
                    raise ValueError("not an object")
                box = normalise_box(reg, opts, photo)
                label = plain_text(next((str(reg[k]) for k in _LABEL_KEYS if reg.get(k) is not None), ""),
                                   "region label")
            except (ValueError, TypeError, InvalidInput) as e:
                report.rejected.append((name, getattr(e, "message", str(e))))
                continue
            key = tuple(round(v, 4) for v in box) + (label.strip(),)
            if key in existing:
                continue
            create_region(settings, pid, *box, label=label, source=source, models=models, indexes=indexes)
            existing.add(key)
            made += 1
        report.created += made
        report.images += 1 if made else 0
    if progress:
        progress(len(records), len(records))
    return report


def export_annotations(settings: Settings, file: str | Path | None = None) -> dict:
    """All regions in the canonical shape (normalised xyxy, keyed by root-relative path); written to
    `file` when given. Import of the result recreates the same regions."""
    out: dict[str, list] = {}
    for r in Region.select(Region, Photo).join(Photo).order_by(Photo.path, Region.id):
        out.setdefault(r.photo.path, []).append({
            "label": r.label, "box": [round(r.x, 6), round(r.y, 6), round(r.x + r.w, 6), round(r.y + r.h, 6)],
            "coordinates": "normalized", "source": r.source})
    if file is not None:
        Path(file).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


__all__ = ["create_region", "update_region", "delete_region", "list_regions", "similar_regions",
           "region_crop", "region_dict", "import_annotations", "export_annotations", "embed_missing"]
