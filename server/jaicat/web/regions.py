"""Regions of photos (normalised boxes with labels) and "find similar": a shell over jaicat.search.regions."""

from __future__ import annotations

from flask import Blueprint, jsonify, make_response

from ..db import Photo
from . import runtime, settings
from .params import BadRequest, field, json_body, limit_arg
from .serialize import photo_json, region_json
from ..search import regions  # imports the ML stack: loaded on first use, not with the app

bp = Blueprint("regions", __name__, url_prefix="/api")
BOX = ("x", "y", "w", "h")


def _domain():

    return regions


def _models():
    return runtime().models


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
    photo = Photo.get_or_404(photo_id)
    return jsonify({"items": [region_json(r) for r in _domain().list_regions(photo.id)]})


@bp.post("/photos/<int:photo_id>/regions")
def add(photo_id: int):
    body = json_body()
    box = _box(body, required=True)
    label = field(body, "label", str, default="")
    photo = Photo.get_or_404(photo_id)
    region = _domain().create_region(settings(), photo.id, box["x"], box["y"], box["w"], box["h"], label, models=_models(),
                                     indexes=runtime().indexes)
    return jsonify(region_json(region)), 201


@bp.patch("/regions/<int:region_id>")
def edit(region_id: int):
    body = json_body()
    changes = _box(body, required=False)
    label = field(body, "label", str)
    if label is not None:
        changes["label"] = label
    region = _domain().update_region(settings(), region_id, **changes, models=_models(),
                                     indexes=runtime().indexes)
    return jsonify(region_json(region))


@bp.delete("/regions/<int:region_id>")
def delete(region_id: int):
    _domain().delete_region(settings(), region_id, indexes=runtime().indexes)
    return "", 204


@bp.get("/regions/labels")
def labels():
    return jsonify({"items": _domain().label_counts()})


@bp.get("/regions/<int:region_id>/crop")
def crop(region_id: int):
    resp = make_response(_domain().region_crop(settings(), region_id))
    resp.mimetype = "image/jpeg"
    resp.cache_control.private = True
    resp.cache_control.no_cache = True
    return resp


@bp.get("/regions/<int:region_id>/similar")
def similar(region_id: int):
    limit = limit_arg(20)
    items = [{"region": region_json(r), "photo": photo_json(r.photo), "score": float(score)}
             for r, score in _domain().similar_regions(settings(), region_id, k=limit, models=_models(),
                                                               indexes=runtime().indexes)]
    return jsonify({"items": items})



