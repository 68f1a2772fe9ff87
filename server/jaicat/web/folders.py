"""Library folders (tree, create) and the tag list."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from .. import library, tags
from .params import field, json_body

bp = Blueprint("folders", __name__, url_prefix="/api")


@bp.get("/folders")
def tree():
    return jsonify(library.folder_tree(current_app.config["JAICAT_SETTINGS"]))


@bp.post("/folders")
def create():
    path = field(json_body(), "path", str, required=True)
    folder = library.create_folder(current_app.config["JAICAT_SETTINGS"], path)
    return jsonify({"path": folder.path}), 201


@bp.get("/tags")
def tag_list():
    return jsonify({"items": tags.tag_counts()})
