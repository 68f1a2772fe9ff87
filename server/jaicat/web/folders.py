"""Library folders (tree, create, rename) and the tag list."""

from __future__ import annotations

from flask import Blueprint, jsonify

from . import settings
from ..photos import library, paths, tags
from .params import field, json_body

bp = Blueprint("folders", __name__, url_prefix="/api")


@bp.get("/folders")
def tree():
    return jsonify(library.folder_tree(settings()))


@bp.post("/folders")
def create():
    path = field(json_body(), "path", str, required=True)
    folder = library.create_folder(settings(), path)
    return jsonify({"path": folder.path}), 201


@bp.post("/folders/rename")
def rename():
    body = json_body()
    old = field(body, "from", str, required=True)
    new = field(body, "to", str, required=True)
    moved = library.rename_folder(settings(), old, new)
    return jsonify({"path": paths.normalise_folder(new), "moved": moved})


@bp.get("/tags")
def tag_list():
    return jsonify({"items": tags.tag_counts()})
