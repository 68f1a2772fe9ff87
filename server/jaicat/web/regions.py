"""Regions of photos (normalised boxes with labels) and "find similar": a shell over jaicat.regions."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, make_response

from .params import BadRequest, field, json_body, limit_arg
from .photos import get_photo
from .serialize import photo_json, region_json

bp = Blueprint("regions", __name__, url_prefix="/api")
BOX = ("x", "y", "w", "h")


def _domain():
    from .. import regions

    return regions


def _settings():
    return current_app.config["JAICAT_SETTINGS"]


def _box(body: dict, required: bool) -> dict:
    out = {}
    for k in BOX:
        v = field(body, k, float, required=required)
        if v is not None:
            if not 0.0 <= v <= 1.0:
                raise BadRequest(f"{k!r} must be between 0 and 1 (normalised to the upright image)")
            out[k] = v
    return out


@bp.get("/photos/<int:photo_id>/regions")
def list_regions(photo_id: int):
    photo = get_photo(photo_id)
    return jsonify({"items": [region_json(r) for r in _domain().photo_regions(photo)]})


@bp.post("/photos/<int:photo_id>/regions")
def add(photo_id: int):
    body = json_body()
    box = _box(body, required=True)
    label = field(body, "label", str, default="")
    region = _domain().add_region(get_photo(photo_id), box["x"], box["y"], box["w"], box["h"], label,
                                  settings=_settings())
    return jsonify(region_json(region)), 201


@bp.patch("/regions/<int:region_id>")
def edit(region_id: int):
    body = json_body()
    changes = _box(body, required=False)
    label = field(body, "label", str)
    if label is not None:
        changes["label"] = label
    region = _domain().update_region(region_id, settings=_settings(), **changes)
    return jsonify(region_json(region))


@bp.delete("/regions/<int:region_id>")
def delete(region_id: int):
    _domain().delete_region(region_id)
    return "", 204


@bp.get("/regions/<int:region_id>/crop")
def crop(region_id: int):
    resp = make_response(_domain().region_crop(region_id, _settings()))
    resp.mimetype = "image/jpeg"
    resp.cache_control.private = True
    resp.cache_control.no_cache = True
    return resp


@bp.get("/regions/<int:region_id>/similar")
def similar(region_id: int):
    limit = limit_arg(20)
    items = []
    for hit in _domain().similar_regions(region_id, _settings(), limit=limit):
        region = hit.get("region")
        items.append({"region": region_json(region) if region is not None else None,
                      "photo": photo_json(hit["photo"]), "score": float(hit["score"])})
    return jsonify({"items": items})



