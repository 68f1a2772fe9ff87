"""What the user says about faces beyond "this is X": confirm a person's suggestions at once, "not a
face", "hide this stranger", a person's cover face. Every answer is remembered in the catalogue:

- a face marked not a face keeps its row (`not_face`), so re-analysis and the thorough pass drop a
  detection on top of it instead of finding it again (persons.record_faces);
- a hidden stranger becomes a hidden person holding the cluster's faces as known encodings, so their
  future faces match them and stay out of sight: never listed, tagged or written to sidecars. Naming
  a hidden stranger (rename) shows them again.

Each action is one transaction and publishes "people.changed".
"""

from __future__ import annotations

import uuid

from .. import events
from ..db import Face, FaceEncoding, Person, database
from ..errors import InvalidInput, NotFound
from .persons import _confirm, encodings_changed, get_face, get_person, sync_face_tags


def confirm_suggested(person_id_or_name, except_face_ids=()) -> dict:
    """Confirm every face suggested for a person (matched, not yet confirmed) but `except_face_ids`;
    their encodings become known ones. {"person_id", "confirmed"}."""
    skip = {int(i) for i in except_face_ids}
    with database.atomic():
        person = get_person(person_id_or_name)
        faces = [f for f in Face.select().where(Face.person == person, Face.confirmed == False,  # noqa: E712
                                                Face.not_face == False)  # noqa: E712
                 if f.id not in skip]
        for face in faces:
            _confirm(face, person)
        if faces:
            sync_face_tags({f.photo_id for f in faces})
            encodings_changed()
    events.publish(events.PEOPLE_CHANGED, action="confirm_all", person=person.name, faces=len(faces),
                   photo_ids=sorted({f.photo_id for f in faces}))
    return {"person_id": person.id, "confirmed": len(faces)}


def mark_not_face(face_id) -> Face:
    """The user says this box is not a face: it leaves its person and cluster, its known encoding
    (if it was confirmed) goes, and the mark keeps any detector from bringing it back."""
    with database.atomic():
        face = get_face(face_id)
        if FaceEncoding.delete().where(FaceEncoding.origin == f"face:{face.id}").execute():
            encodings_changed()
        face.not_face, face.person, face.confirmed, face.cluster, face.distance = True, None, False, None, None
        face.save()
        sync_face_tags([face.photo_id])
    events.publish(events.PEOPLE_CHANGED, action="not_face", face=face.id, photo_ids=[face.photo_id])
    return face


def not_faces(cluster_id: int) -> dict:
    """The user says a group of unknown faces is no face at all (blur, fur, a pattern): every face of
    the cluster is marked as mark_not_face marks one. {"faces"}."""
    with database.atomic():
        faces = list(Face.select().where(Face.cluster == int(cluster_id), Face.person.is_null()))
        if not faces:
            raise NotFound(f"no unknown faces in cluster {cluster_id}")
        Face.update(not_face=True, confirmed=False, cluster=None, distance=None).where(
            Face.id.in_([f.id for f in faces])).execute()
        sync_face_tags({f.photo_id for f in faces})
    events.publish(events.PEOPLE_CHANGED, action="not_face", faces=len(faces),
                   photo_ids=sorted({f.photo_id for f in faces}))
    return {"faces": len(faces)}


def hide_stranger(cluster_id: int) -> dict:
    """Hide the unknown person of a cluster: their faces go to a hidden person (as known encodings),
    so this stranger's future faces are matched to them and hidden too. {"person_id", "faces"}."""
    with database.atomic():
        faces = list(Face.select().where(Face.cluster == int(cluster_id), Face.person.is_null()))
        if not faces:
            raise NotFound(f"no unknown faces in cluster {cluster_id}")
        person = Person.create(name=f"hidden stranger {uuid.uuid4().hex[:8]}", hidden=True)
        for face in faces:
            _confirm(face, person)
        encodings_changed()
    events.publish(events.PEOPLE_CHANGED, action="hide", faces=len(faces),
                   photo_ids=sorted({f.photo_id for f in faces}))
    return {"person_id": person.id, "faces": len(faces)}


def set_cover(person_id_or_name, face_id) -> Person:
    """Show this face (one of the person's) on the person's tile."""
    with database.atomic():
        person = get_person(person_id_or_name)
        face = get_face(face_id)
        if face.person_id != person.id:
            raise InvalidInput(f"face {face.id} is not one of {person.name}'s faces")
        person.cover_face = face.id
        person.save()
    events.publish(events.PEOPLE_CHANGED, action="cover", person=person.name, face=face.id, photo_ids=[])
    return person
