"""JSON shapes of catalogue rows, as documented in docs/API.md."""

from __future__ import annotations

import datetime as dt

from flask import has_app_context
from peewee import JOIN

from . import settings
from ..db import Decision, Face, Person, Photo, PhotoTag, Region
from ..photos import live, preview
from ..suggest import names
from ..photos import uploads


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def photo_urls(photo_id: int) -> dict:
    return {
        "thumb_url": f"/api/photos/{photo_id}/thumb?size=256",
        "preview_url": f"/api/photos/{photo_id}/thumb?size=1280",
        "original_url": f"/api/photos/{photo_id}/original",
    }


def video_preview_url(p: Photo) -> str | None:
    """The browser-playable preview of a video once it is made (None for photos, for videos browsers
    play as they are, and while it is being made)."""
    if not p.is_video or not has_app_context():
        return None
    if not preview.preview_path(settings(), p.sha256).is_file():
        return None
    return f"/api/photos/{p.id}/video-preview"


def photo_json(p: Photo, detail: bool = False) -> dict:
    out = {
        "id": p.id, "sha256": p.sha256, "filename": p.original_filename, "size": p.size, "mime": p.mime,
        "width": p.width, "height": p.height, "taken_at": iso(p.taken_at),
        "camera": ({"make": p.camera_make, "model": p.camera_model}
                   if (p.camera_make or p.camera_model) else None),
        "gps": {"lat": p.gps_lat, "lon": p.gps_lon} if p.gps_lat is not None and p.gps_lon is not None else None,
        "status": p.status, "folder": p.folder, "path": p.path, "root": p.root,
        "source_device": p.source_device, "created_at": iso(p.created_at), "analysed_at": iso(p.analysed_at),
        "caption": p.caption, "suggestions": p.suggestions, "favourite": bool(p.favourite), "filed_by": p.filed_by,
        "trashed_at": iso(p.trashed_at), **photo_urls(p.id),
        "media": p.media, "duration": p.duration, "taken_offset": p.taken_offset,
        "date_source": p.date_source, "description": p.description, "live_of": p.live_of_id,
        "video_preview_url": video_preview_url(p),
    }
    if not p.is_video and p.live_id:
        motion = live.motion_of(p)
        out["live_video_url"] = ((video_preview_url(motion) or f"/api/photos/{motion.id}/original")
                                 if motion is not None else None)
    if detail:
        tags = (PhotoTag.visible().where(PhotoTag.photo == p)
                .order_by(PhotoTag.score.desc()))
        out["tags"] = [{"name": t.tag.name, "source": t.source, "score": t.score} for t in tags]
        faces = Face.select(Face, Person).join(Person, on=(Face.person == Person.id), join_type=JOIN.LEFT_OUTER) \
            .where(Face.photo == p, Face.not_face == False).order_by(Face.id)  # noqa: E712
        out["faces"] = [face_json(f) for f in faces if f.person_id is None or not f.person.hidden]
        out["regions"] = [region_json(r) for r in Region.select().where(Region.photo == p).order_by(Region.id)]
        out["decisions"] = [decision_json(d) for d in
                            Decision.select().where(Decision.photo == p).order_by(Decision.id.desc()).limit(20)]
    return out


def face_json(f: Face) -> dict:
    person = f.person if f.person_id is not None else None
    return {
        "id": f.id, "photo_id": f.photo_id, "x": f.x, "y": f.y, "w": f.w, "h": f.h,
        "person": {"id": person.id, "name": person.name} if person is not None else None,
        "confirmed": bool(f.confirmed), "distance": f.distance, "cluster": f.cluster,
        "crop_url": f"/api/faces/{f.id}/crop",
    }


def region_json(r: Region) -> dict:
    return {
        "id": r.id, "photo_id": r.photo_id, "x": r.x, "y": r.y, "w": r.w, "h": r.h, "label": r.label,
        "source": r.source, "created_at": iso(r.created_at), "crop_url": f"/api/regions/{r.id}/crop",
    }


def decision_json(d: Decision) -> dict:
    return {
        "id": d.id, "photo_id": d.photo_id, "action": d.action, "chosen_folder": d.chosen_folder,
        "suggested": d.suggested, "tags": d.tags, "people": d.people,
        "from": {"root": d.from_root, "path": d.from_path}, "to": {"root": d.to_root, "path": d.to_path},
        "device": d.device, "created_at": iso(d.created_at), "undone": bool(d.undone),
        "filed_by": d.filed_by or "user",
        "proposal": names.outcome(d.suggested, d.chosen_folder) if d.action in ("accept", "fix", "file") else None,
    }


def job_json(j) -> dict:
    return {
        "id": j.id, "kind": j.kind, "status": j.status, "total": j.total, "done": j.done,
        "message": j.message, "created_at": iso(j.created_at), "updated_at": iso(j.updated_at),
    }


def device_json(d, current_id: int | None = None) -> dict:
    return {
        "id": d.id, "name": d.name, "created_at": iso(d.created_at), "last_seen": iso(d.last_seen),
        "revoked": bool(d.revoked), "current": d.id == current_id,
    }


def upload_json(u, settings) -> dict:

    return {
        "id": u.id, "filename": u.filename, "size": u.size, "offset": u.offset, "sha256": u.sha256,
        "mime": u.mime, "status": uploads.upload_status(u), "photo_id": u.photo_id,
        "duplicate": uploads.is_duplicate(u),
        "error": u.error if uploads.upload_status(u) == "failed" else None,
        "created_at": iso(u.created_at), "updated_at": iso(u.updated_at),
        "expires_at": iso(uploads.expires_at(u, settings)),
    }
