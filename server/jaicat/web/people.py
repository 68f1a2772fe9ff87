"""People and faces: a thin shell over jaicat.people.persons."""

from __future__ import annotations

from flask import Blueprint, jsonify, make_response, request

from . import settings
from ..people import curation, persons as people
from ..db import Face, Person
from ..errors import NotFound
from .params import BadRequest, arg_int, field, json_body
from .serialize import face_json

bp = Blueprint("people", __name__, url_prefix="/api")


def _person_out(row: dict) -> dict:
    cover = row.get("cover_face_id")
    return {"id": row["id"], "name": row["name"], "photo_count": row.get("photo_count", 0),
            "face_count": row.get("face_count", 0),
            "cover_face_id": cover, "cover_url": f"/api/faces/{cover}/crop" if cover else None}


def _person_by_id(person_id: int) -> dict:
    people.get_person(person_id)  # NotFound if missing
    for row in people.list_people():
        if row["id"] == person_id:
            return _person_out(row)
    raise NotFound(f"no person {person_id}")  # a hidden stranger


@bp.get("/people")
def list_people():
    return jsonify({"items": [_person_out(r) for r in people.list_people()]})


@bp.get("/people/<int:person_id>")
def person(person_id: int):
    out = _person_by_id(person_id)
    faces = Face.select(Face, Person).join(Person).where(Face.person == person_id).order_by(Face.id.desc())
    out["faces"] = [face_json(f) for f in faces.limit(500)]
    return jsonify(out)


@bp.patch("/people/<int:person_id>")
def rename(person_id: int):
    name = field(json_body(), "name", str, required=True)
    p = people.rename_person(person_id, name)
    return jsonify(_person_by_id(p.id))


@bp.post("/people/<int:person_id>/merge")
def merge(person_id: int):
    into = field(json_body(), "into", int, required=True)
    kept = people.merge_people(person_id, into)
    return jsonify(_person_by_id(kept.id))


@bp.post("/people/<int:person_id>/confirm-all")
def confirm_all(person_id: int):
    body = json_body(optional=True)
    skip = field(body, "except", list) or []
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in skip):
        raise BadRequest("'except' must be a list of face ids")
    result = curation.confirm_suggested(person_id, skip)
    return jsonify({"confirmed": result["confirmed"], "person": _person_by_id(person_id)})


@bp.post("/people/<int:person_id>/cover")
def cover(person_id: int):
    face_id = field(json_body(), "face_id", int, required=True)
    curation.set_cover(person_id, face_id)
    return jsonify(_person_by_id(person_id))


@bp.delete("/people/<int:person_id>")
def forget(person_id: int):
    people.forget_person(person_id)
    return "", 204


@bp.get("/people/unknown")
def unknown():
    items = []
    for group in people.unknown_clusters():
        ids = group["face_ids"][:50]
        faces = Face.select().where(Face.id.in_(ids)).order_by(Face.id)
        items.append({"cluster": group["cluster"], "count": group["size"],
                      "faces": [face_json(f) for f in faces]})
    return jsonify({"items": items})


@bp.post("/people/unknown/<int:cluster>/name")
def name_cluster(cluster: int):
    name = field(json_body(), "name", str, required=True)
    result = people.name_cluster(cluster, name)
    return jsonify({**_person_by_id(result["person_id"]), "named": result["faces"]})


@bp.post("/people/unknown/<int:cluster>/hide")
def hide_cluster(cluster: int):
    result = curation.hide_stranger(cluster)
    return jsonify({"hidden": result["faces"]})


@bp.post("/people/unknown/<int:cluster>/not-faces")
def not_faces(cluster: int):
    return jsonify({"not_faces": curation.not_faces(cluster)["faces"]})


@bp.get("/faces/<int:face_id>/crop")
def face_crop(face_id: int):
    size = arg_int("size", 160, 16, 1024)
    face = people.get_face(face_id)
    resp = make_response(people.face_crop(face_id, settings(), size=size))
    resp.mimetype = "image/jpeg"
    resp.set_etag(f"face-{face.id}-{face.photo_id}-{size}")
    resp.cache_control.private = True
    resp.cache_control.max_age = 3600
    return resp.make_conditional(request)


@bp.post("/faces/<int:face_id>/confirm")
def confirm(face_id: int):
    body = json_body(optional=True)
    person_id = field(body, "person_id", int)
    name = field(body, "name", str)
    if person_id is None and name is None:
        face = people.get_face(face_id)
        if face.person_id is None:
            raise BadRequest("this face has no suggested person; give 'person_id' or 'name'")
        person_id = face.person_id
    face = people.confirm_face(face_id, person_id if person_id is not None else name)
    return jsonify(face_json(people.get_face(face.id)))


@bp.post("/faces/<int:face_id>/reject")
def reject(face_id: int):
    face = people.reject_face(face_id, settings())
    return jsonify(face_json(people.get_face(face.id)))


@bp.post("/faces/<int:face_id>/not-a-face")
def not_a_face(face_id: int):
    face = curation.mark_not_face(face_id)
    return jsonify({"id": face.id, "photo_id": face.photo_id, "not_face": True})
