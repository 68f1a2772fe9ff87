"""The OpenAPI 3 description of the API, served at /api/openapi.json.

Written by hand next to the routes; tests/web/test_api.py checks it lists exactly the app's
url_map (and nothing else), so it cannot drift.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import __version__
from ..commands import KINDS, route

bp = Blueprint("openapi", __name__)

ERR = {"$ref": "#/components/schemas/Error"}


def _obj(props: dict, required: tuple = ()) -> dict:
    out = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


STR, INT, NUM, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
NULLSTR = {"type": "string", "nullable": True}
STRLIST = {"type": "array", "items": STR}
ITEMS = _obj({"items": {"type": "array", "items": {"type": "object"}}}, ("items",))
IDS = {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "maxItems": 1000}
PAGE = _obj({"items": {"type": "array", "items": {"type": "object"}}, "next_cursor": NULLSTR}, ("items",))


def _id(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def _q(name: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema}


LIMIT = _q("limit", {"type": "integer", "minimum": 1, "maximum": 200})
CURSOR = _q("cursor", STR)
UPLOAD_ID = {"name": "upload_id", "in": "path", "required": True, "schema": STR}
JPEG = {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}


def op(summary: str, params=(), body: dict | None = None, ok: int = 200, resp: dict | None = None,
       public: bool = False, content: dict | None = None, body_required: bool = True,
       raw_body: bool = False) -> dict:
    o: dict = {"summary": summary, "parameters": list(params), "responses": {}}
    if body is not None:
        ctype = "application/octet-stream" if raw_body else "application/json"
        o["requestBody"] = {"required": body_required, "content": {ctype: {"schema": body}}}
    if ok == 204:
        o["responses"]["204"] = {"description": "done"}
    else:
        o["responses"][str(ok)] = {"description": "ok", "content": content or
                                   {"application/json": {"schema": resp or {"type": "object"}}}}
    for code in ("400", "404") + (() if public else ("401",)):
        o["responses"][code] = {"description": "error", "content": {"application/json": {"schema": ERR}}}
    if public:
        o["security"] = []
    return o


def local_paths() -> dict:
    """What a command on the server's machine asks for (the local credential only; web/local.py)."""
    return {route(name): {"post": op(f"{k.summary} ({'a job' if k.job else 'done at once'}; the local "
                                     "credential only)", body=k.body,
                                     body_required=k.body is not None and "required" in k.body,
                                     ok=202 if k.job else 200)}
            for name, k in KINDS.items()}


def spec() -> dict:
    decision_body = _obj({"folder": STR, "create": BOOL, "tags": STRLIST, "people": STRLIST})
    paths = {
        "/api/health": {"get": op("Server facts (no token)", public=True)},
        "/api/pair": {"post": op("Exchange a pairing code for a device token (no token)",
                                 body=_obj({"code": STR, "name": STR}, ("code",)), ok=201, public=True)},
        "/api/pair/code": {"post": op("Create a pairing code for another phone", ok=201)},
        "/api/openapi.json": {"get": op("This document")},
        "/api/devices": {"get": op("Paired devices", resp=ITEMS)},
        "/api/devices/{device_id}": {
            "patch": op("Rename a device", [_id("device_id")], body=_obj({"name": STR}, ("name",))),
            "delete": op("Revoke a device", [_id("device_id")], ok=204),
        },
        "/api/server": {"get": op("Server version, addresses and https, for the settings screen",
                                  resp=_obj({"version": STR, "server_id": STR, "https": BOOL, "urls": STRLIST,
                                             "this_url": STR}))},
        "/api/logout": {"post": op("Revoke the calling device", ok=204)},
        "/api/uploads/check": {"post": op(
            "Which sha256 digests the server already has",
            body=_obj({"sha256": {"type": "array", "items": STR, "maxItems": 5000}}, ("sha256",)),
            resp=_obj({"known": STRLIST, "missing": STRLIST}))},
        "/api/uploads": {
            "get": op("This device's pending uploads", resp=ITEMS),
            "post": op("Start an upload", body=_obj(
                {"filename": STR, "size": {"type": "integer", "minimum": 1}, "sha256": STR, "mime": STR},
                ("filename", "size")), ok=201),
        },
        "/api/uploads/{upload_id}": {
            "get": op("Upload state (offset to resume from)", [UPLOAD_ID]),
            "patch": op("Send bytes at an offset; the last chunk finishes the upload",
                        [UPLOAD_ID, _q("offset", {"type": "integer", "minimum": 0}, True)],
                        body={"type": "string", "format": "binary"}, raw_body=True),
            "delete": op("Discard a pending upload", [UPLOAD_ID], ok=204),
        },
        "/api/photos": {"get": op("Photos, newest first, filtered", [
            _q("status", {"type": "string", "enum": ["inbox", "suggested", "filed", "skipped"]}),
            _q("folder", STR), _q("tag", STR), _q("person", {"type": "integer", "minimum": 1}),
            _q("date_from", {"type": "string", "format": "date"}),
            _q("date_to", {"type": "string", "format": "date"}), _q("favourite", {"type": "string", "enum": ["1", "true"]}),
            _q("filed_by", {"type": "string", "enum": ["auto", "user"]}), _q("q", STR), LIMIT, CURSOR], resp=PAGE)},
        "/api/photos/move": {"post": op("Move photos (library or inbox) into a library folder",
                                        body=_obj({"ids": IDS, "folder": STR, "create": BOOL}, ("ids", "folder")))},
        "/api/photos/trash": {"post": op("Move photos to the trash", body=_obj({"ids": IDS}, ("ids",)))},
        "/api/photos/restore": {"post": op("Put trashed photos back where they were",
                                           body=_obj({"ids": IDS}, ("ids",)))},
        "/api/timeline": {"get": op("Months that have photos, newest first", resp=_obj(
            {"months": {"type": "array", "items": _obj({"month": STR, "count": INT})}}))},
        "/api/timeline/photos": {"get": op("Photos by date, newest first", [
            _q("until", {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}), LIMIT, CURSOR], resp=PAGE)},
        "/api/places": {"get": op("Photos with GPS for the map, and the tile URL template", [
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 5000})],
            resp=_obj({"tiles": NULLSTR, "items": {"type": "array", "items": {"type": "object"}}}))},
        "/api/ideas": {"post": op("Three post ideas with hashtags for photos (people named only if asked)",
                                  body=_obj({"ids": IDS | {"maxItems": 20}, "people": BOOL}, ("ids",)),
                                  resp=_obj({"ideas": {"type": "array", "items": _obj({"text": STR,
                                                                                       "hashtags": STRLIST})},
                                             "language": STR, "facts": {"type": "object"}}))},
        "/api/trash": {"get": op("Photos in the trash, most recently trashed first", [LIMIT, CURSOR], resp=PAGE)},
        "/api/trash/empty": {"post": op("Delete photos in the trash for good (all, `ids`, or `older_than_days`)",
                                        body=_obj({"ids": IDS, "older_than_days": INT}), body_required=False)},
        "/api/photos/{photo_id}/tags": {"post": op("Add and remove some of a photo's tags", [_id("photo_id")],
                                                   body=_obj({"add": STRLIST, "remove": STRLIST}))},
        "/api/photos/{photo_id}": {
            "get": op("Photo detail", [_id("photo_id")]),
            "patch": op("Edit a photo's tags (face names are kept) or its star", [_id("photo_id")],
                        body=_obj({"tags": STRLIST, "favourite": BOOL})),
        },
        "/api/photos/{photo_id}/thumb": {"get": op(
            "Upright JPEG thumbnail", [_id("photo_id"), _q("size", {"type": "integer", "enum": [256, 1280]})],
            content=JPEG)},
        "/api/photos/{photo_id}/original": {"get": op(
            "The original file (Range supported)", [_id("photo_id")],
            content={"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}})},
        "/api/photos/{photo_id}/video-preview": {"get": op(
            "Browser-playable H.264 preview of a video browsers cannot play (Range supported)", [_id("photo_id")],
            content={"video/mp4": {"schema": {"type": "string", "format": "binary"}}})},
        "/api/photos/{photo_id}/regions": {
            "get": op("Regions of a photo", [_id("photo_id")], resp=ITEMS),
            "post": op("Add a region", [_id("photo_id")], body=_obj(
                {k: {"type": "number", "minimum": 0, "maximum": 1} for k in ("x", "y", "w", "h")}
                | {"label": STR}, ("x", "y", "w", "h")), ok=201),
        },
        "/api/regions/{region_id}": {
            "patch": op("Edit a region", [_id("region_id")], body=_obj(
                {k: {"type": "number", "minimum": 0, "maximum": 1} for k in ("x", "y", "w", "h")}
                | {"label": STR})),
            "delete": op("Delete a region", [_id("region_id")], ok=204),
        },
        "/api/regions/labels": {"get": op("Region labels in use with counts, most used first", resp=ITEMS)},
        "/api/regions/{region_id}/crop": {"get": op("Region crop", [_id("region_id")], content=JPEG)},
        "/api/regions/{region_id}/similar": {"get": op("Similar regions and photos", [_id("region_id"), LIMIT],
                                                       resp=ITEMS)},
        "/api/review": {"get": op("The review queue (or its Skipped section), with current suggestions",
                                  [LIMIT, CURSOR, _q("status", {"type": "string", "enum": ["skipped", "waiting"]})],
                                  resp=PAGE)},
        "/api/review/{photo_id}/accept": {"post": op("File into the suggested (or a given) folder, with tag edits",
                                                     [_id("photo_id")],
                                                     body=_obj({"folder": STR, "tags": STRLIST, "people": STRLIST}),
                                                     body_required=False)},
        "/api/review/{photo_id}/fix": {"post": op("File into another or a new folder, with tag edits",
                                                  [_id("photo_id")], body=decision_body)},
        "/api/review/{photo_id}/skip": {"post": op("Leave the photo where it is", [_id("photo_id")],
                                                   body=_obj({}), body_required=False)},
        "/api/review/{photo_id}/group": {"get": op("Waiting photos that go where this one goes (its burst, its people)",
                                                   [_id("photo_id")])},
        "/api/review/accept-all": {"post": op("File several waiting photos in one folder",
                                              body=_obj({"photo_ids": {"type": "array", "items": {"type": "integer", "minimum": 1,
                                                                                           "maximum": 2**63 - 1},
                                                                       "minItems": 1, "maxItems": 200},
                                                         "folder": STR}, ("photo_ids", "folder")))},
        "/api/review/undo": {"post": op("Undo a decision (the last one by default, or a photo's latest)",
                                        body=_obj({"decision_id": INT, "photo_id": INT}), body_required=False)},
        "/api/review/auto-filed/seen": {"post": op("The user saw these auto-filed photos: keep them",
                                                   body=_obj({"photo_ids": IDS | {"maxItems": 200}}, ("photo_ids",)),
                                                   resp=_obj({"kept": INT, "unseen": INT}))},
        "/api/settings": {
            "get": op("The settings the phone changes (auto_file) and how auto-filing stands"),
            "patch": op("Change auto_file: \"off\" or a target error rate in (0, 0.5]",
                        body=_obj({"auto_file": {"oneOf": [STR, NUM]}}, ("auto_file",))),
        },
        "/api/decisions": {"get": op("Decisions, newest first", [LIMIT, CURSOR], resp=PAGE)},
        "/api/folders": {
            "get": op("The library folder tree"),
            "post": op("Create a folder", body=_obj({"path": STR}, ("path",)), ok=201),
        },
        "/api/folders/rename": {"post": op("Rename or move a folder with its photos",
                                           body=_obj({"from": STR, "to": STR}, ("from", "to")))},
        "/api/tags": {"get": op("Tags in use with counts", resp=ITEMS)},
        "/api/search": {"get": op("Search (free text and tag:, person:, folder:, after:, ...)",
                                  [_q("q", {"type": "string", "minLength": 1}, True), LIMIT, CURSOR],
                                  resp=PAGE)},
        "/api/people": {"get": op("People", resp=ITEMS)},
        "/api/people/{person_id}": {
            "get": op("A person and their faces", [_id("person_id")]),
            "patch": op("Rename", [_id("person_id")], body=_obj({"name": STR}, ("name",))),
            "delete": op("Forget a person", [_id("person_id")], ok=204),
        },
        "/api/people/{person_id}/merge": {"post": op("Merge into another person", [_id("person_id")],
                                                     body=_obj({"into": INT}, ("into",)))},
        "/api/people/{person_id}/confirm-all": {"post": op(
            "Confirm every face suggested for a person", [_id("person_id")],
            body=_obj({"except": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 10000}}),
            body_required=False)},
        "/api/people/{person_id}/cover": {"post": op("Choose the person's cover face", [_id("person_id")],
                                                    body=_obj({"face_id": INT}, ("face_id",)))},
        "/api/people/unknown": {"get": op("Unnamed face clusters", resp=ITEMS)},
        "/api/people/unknown/{cluster}/not-faces": {"post": op(
            "These are no faces (remembered)", [{"name": "cluster", "in": "path", "required": True, "schema": INT}])},
        "/api/people/unknown/{cluster}/hide": {"post": op(
            "Hide this stranger (remembered)", [{"name": "cluster", "in": "path", "required": True, "schema": INT}])},
        "/api/people/unknown/{cluster}/name": {"post": op(
            "Name a cluster", [{"name": "cluster", "in": "path", "required": True, "schema": INT}],
            body=_obj({"name": STR}, ("name",)))},
        "/api/faces/{face_id}/crop": {"get": op("Face crop", [_id("face_id"),
                                                              _q("size", {"type": "integer", "minimum": 16,
                                                                          "maximum": 1024})], content=JPEG)},
        "/api/faces/{face_id}/confirm": {"post": op("Confirm whose face it is", [_id("face_id")],
                                                    body=_obj({"person_id": INT, "name": STR}),
                                                    body_required=False)},
        "/api/faces/{face_id}/reject": {"post": op("Not this person", [_id("face_id")])},
        "/api/faces/{face_id}/not-a-face": {"post": op("Not a face (remembered)", [_id("face_id")])},
        "/api/jobs": {"get": op("Jobs", [_q("status", {"type": "string",
                                                       "enum": ["queued", "running", "done", "failed"]})],
                                resp=ITEMS)},
        "/api/jobs/{job_id}": {"get": op("A job", [_id("job_id")])},
        "/api/analysis/requeue": {"post": op("Put photos back in the analysis queue and wake the worker",
                                             body=_obj({"missing": BOOL, "retry_failed": BOOL, "all": BOOL}),
                                             body_required=False, ok=202)},
        "/api/suggest/learn-library": {"post": op("Learn the library again, as a background job", ok=202)},
        "/api/suggest/reset": {"post": op("Forget everything the suggester learned")},
        **local_paths(),
        "/ws": {"get": op("WebSocket upgrade: events out, decisions in (see docs/API.md)",
                          [_q("token", STR)], ok=101)},
        "/ca.crt": {"get": op("Local CA certificate (no token)", public=True,
                              content={"application/x-x509-ca-cert": {"schema": {"type": "string"}}})},
    }
    shell = {"/": "index.html", "/index.html": "index.html", "/manifest.webmanifest": "web app manifest",
             "/sw.js": "service worker"}
    for path, what in shell.items():
        paths[path] = {"get": op(f"PWA shell: {what} (no token)", public=True,
                                 content={"text/html": {"schema": STR}})}
    for d in ("js", "css", "icons"):
        paths[f"/{d}/{{rel}}"] = {"get": op(f"PWA shell: /{d}/ files (no token)", public=True,
                                            params=[{"name": "rel", "in": "path", "required": True,
                                                     "schema": STR}],
                                            content={"application/octet-stream": {"schema": STR}})}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Jaicat", "version": __version__,
                 "description": "Self-hosted photo companion API. Human guide: docs/API.md"},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"cookie": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "jaicat_token"},
            },
            "schemas": {"Error": _obj({"error": STR, "message": STR}, ("error", "message"))},
        },
        "paths": paths,
    }


@bp.get("/api/openapi.json")
def openapi_json():
    return jsonify(spec())
