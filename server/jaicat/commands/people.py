"""Command kinds of the people: enrol and import known faces, re-match and regroup, name, merge,
forget, confirm and reject."""

from __future__ import annotations

from ..people import persons
from ..people.known import enroll_folder, import_npy_dir
from .base import BOOL, INT, PATH, STR, Kind, Progress, flag, nothing, number, only, path, schema, text

FOLDER = schema({"dir": PATH, "rematch": BOOL}, "dir")


def _check_folder(p: dict) -> dict:
    only(p, "dir", "rematch")
    return {"dir": path(p, "dir", "folder"), "rematch": flag(p, "rematch", True)}


def _rematch(rt, progress: Progress) -> dict:
    return persons.rematch_faces(rt.settings, progress=lambda d, t, *_: progress(d, t, "re-matching faces"))


def enroll_people(rt, p: dict, progress: Progress) -> dict:
    """People from a folder of one subfolder of photos per person, then re-match the faces."""
    s = enroll_folder(p["dir"], rt.settings, progress=lambda d, t, *_: progress(d, t, "enrolling"), models=rt.faces)
    return {"people": s.people, "added": s.added, "already": s.already,
            "rejected": [list(x) for x in s.rejected], "line": s.line(),
            "rematch": _rematch(rt, progress) if s.added and p["rematch"] else None}


def import_encodings(rt, p: dict, progress: Progress) -> dict:
    """Known face encodings from a folder of `<Person_Name>_<id>.npy`, then re-match the faces."""
    s = import_npy_dir(p["dir"], progress=lambda d, t, *_: progress(d, t, "importing"))
    return {"imported": s.imported, "duplicates": s.duplicates, "new_people": s.new_people,
            "rejected": [list(x) for x in s.rejected], "line": s.line(),
            "rematch": _rematch(rt, progress) if s.imported and p["rematch"] else None}


def rematch(rt, p: dict, progress: Progress) -> dict:
    """Match every unconfirmed face again against the known encodings."""
    return _rematch(rt, progress)


def recluster(rt, p: dict, progress: Progress) -> dict:
    """Regroup the unknown faces."""
    progress(0, 1, "regrouping unknown faces")
    n = persons.recluster_unknown_faces()
    progress(1, 1, "regrouping unknown faces")
    return {"groups": n, "line": f"{n} groups of unknown faces"}


def _check_rename(p: dict) -> dict:
    only(p, "person", "name")
    return {"person": text(p, "person"), "name": text(p, "name")}


def rename(rt, p: dict, progress: Progress) -> dict:
    """Rename a person (and their face tags)."""
    old = persons.get_person(p["person"]).name
    return {"old": old, "name": persons.rename_person(p["person"], p["name"]).name}


def _check_merge(p: dict) -> dict:
    only(p, "person", "into")
    return {"person": text(p, "person"), "into": text(p, "into")}


def merge(rt, p: dict, progress: Progress) -> dict:
    """Merge one person into another."""
    src = persons.get_person(p["person"]).name
    return {"person": src, "into": persons.merge_people(p["person"], p["into"]).name}


def _check_person(p: dict) -> dict:
    only(p, "person")
    return {"person": text(p, "person")}


def forget(rt, p: dict, progress: Progress) -> dict:
    """Forget a person: encodings, face links and face tags."""
    return persons.forget_person(p["person"])


def _check_confirm(p: dict) -> dict:
    only(p, "face", "name")
    return {"face": number(p, "face"), "name": text(p, "name")}


def confirm(rt, p: dict, progress: Progress) -> dict:
    """Say whose face this is (a new name creates the person)."""
    face = persons.confirm_face(p["face"], p["name"])
    return {"face": face.id, "person": face.person.name}


def _check_face(p: dict) -> dict:
    only(p, "face")
    return {"face": number(p, "face")}


def reject(rt, p: dict, progress: Progress) -> dict:
    """Say a face is not the person it was matched to; the person it matches now, if any."""
    face = persons.reject_face(p["face"], rt.settings)
    return {"face": face.id, "person": face.person.name if face.person_id else None}


def _check_cluster(p: dict) -> dict:
    only(p, "cluster", "name")
    return {"cluster": number(p, "cluster", minimum=0), "name": text(p, "name")}


def name_cluster(rt, p: dict, progress: Progress) -> dict:
    """Give every face of a group of unknown faces to a person."""
    r = persons.name_cluster(p["cluster"], p["name"])
    return {"faces": r["faces"], "person": r["person"]}


KINDS = [
    Kind("faces-enroll", "faces/enroll", "Learn people from one folder of photos per person", _check_folder,
         enroll_people, FOLDER, job=True, learns=True),
    Kind("faces-import", "faces/import", "Import known face encodings (.npy files)", _check_folder,
         import_encodings, FOLDER, job=True, learns=True),
    Kind("faces-rematch", "faces/rematch", "Match unconfirmed faces again", nothing, rematch, job=True, learns=True),
    Kind("faces-recluster", "faces/recluster", "Regroup unknown faces", nothing, recluster, job=True, learns=True),
    Kind("faces-rename", "faces/rename", "Rename a person", _check_rename, rename,
         schema({"person": STR, "name": STR}, "person", "name")),
    Kind("faces-merge", "faces/merge", "Merge a person into another", _check_merge, merge,
         schema({"person": STR, "into": STR}, "person", "into")),
    Kind("faces-forget", "faces/forget", "Forget a person", _check_person, forget, schema({"person": STR}, "person")),
    Kind("faces-confirm", "faces/confirm", "Say whose face this is", _check_confirm, confirm,
         schema({"face": INT, "name": STR}, "face", "name")),
    Kind("faces-reject", "faces/reject", "Say a face is not the person it was matched to", _check_face, reject,
         schema({"face": INT}, "face")),
    Kind("faces-name-cluster", "faces/name-cluster", "Give a group of unknown faces to a person", _check_cluster,
         name_cluster, schema({"cluster": INT, "name": STR}, "cluster", "name")),
]
