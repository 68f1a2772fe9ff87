"""Tags are one per name whatever the case, whoever writes them: the user, the auto-taggers, an XMP
sidecar or face recognition; and a tag the user removed stays removed."""

from __future__ import annotations

import pytest

from jaicat.db import Face, Person, Photo, PhotoTag, Tag, vec_to_blob
from jaicat.photos import tags
from jaicat.xmp.catalogue import apply_content


def _photo(n: int = 1) -> Photo:
    return Photo.create(sha256=f"{n:064x}", phash="0" * 16, original_filename=f"p{n}.jpg", size=1,
                        mime="image/jpeg", width=10, height=10, path=f"p{n}.jpg")


def _visible(photo) -> list[str]:
    return sorted(t["name"] for t in tags.photo_tags(photo))


def test_user_tag_and_xmp_keyword_differing_in_case_are_one_tag(settings):
    photo = _photo()
    tags.add_tag(photo, "Dog")
    apply_content(photo, {"keywords": ["dog"]})
    assert _visible(photo) == ["Dog"]
    assert Tag.select().count() == 1


def test_a_removed_tag_does_not_come_back_through_a_sidecar_in_another_case(settings):
    photo = _photo()
    tags.add_tag(photo, "beach")
    tags.remove_tag(photo, "beach")
    added = apply_content(photo, {"keywords": ["Beach"], "hierarchical": ["Places|BEACH"]})
    assert added["tags"] == 0
    assert _visible(photo) == []


def test_non_ascii_names_fold_case(settings):
    photo = _photo()
    tags.add_tag(photo, "Élan")
    tags.add_tag(photo, "élan")
    tags.add_tag(photo, "STRASSE")
    tags.add_tag(photo, "straße")  # casefold: "strasse"
    assert _visible(photo) == ["STRASSE", "Élan"]


def test_the_first_spelling_is_kept(settings):
    first, second = _photo(1), _photo(2)
    apply_content(first, {"keywords": ["New York"]})
    tags.add_tag(second, "new york")
    assert _visible(second) == ["New York"]


def test_face_tags_join_a_tag_the_user_typed_in_another_case(settings):
    photo = _photo()
    tags.add_tag(photo, "amy")
    amy = Person.create(name="Amy")
    Face.create(photo=photo, x=0, y=0, w=0.5, h=0.5, encoding=vec_to_blob([0.0] * 128), person=amy)
    from jaicat.people.persons import sync_face_tags

    sync_face_tags([photo.id])
    assert _visible(photo) == ["amy"]
    assert Tag.select().count() == 1


def test_face_tags_respect_a_removal_in_another_case(settings):
    photo = _photo()
    tags.remove_tag(photo, "AMY")
    amy = Person.create(name="Amy")
    Face.create(photo=photo, x=0, y=0, w=0.5, h=0.5, encoding=vec_to_blob([0.0] * 128), person=amy)
    from jaicat.people.persons import sync_face_tags

    sync_face_tags([photo.id])
    assert _visible(photo) == []


def test_renaming_a_person_by_case_keeps_their_face_tags(settings):
    from jaicat.people.persons import rename_person, sync_face_tags

    photo = _photo()
    amy = Person.create(name="amy")
    Face.create(photo=photo, x=0, y=0, w=0.5, h=0.5, encoding=vec_to_blob([0.0] * 128), person=amy)
    sync_face_tags([photo.id])
    rename_person(amy.id, "Amy")
    assert _visible(photo) == ["Amy"]
    assert PhotoTag.get().source == "face"


@pytest.mark.parametrize("source", ["clip", "blip"])
def test_auto_tags_fold_case_into_an_existing_tag(settings, source):
    photo = _photo()
    apply_content(photo, {"keywords": ["Dog"]})
    tags.set_auto_tags(photo, source, [("dog", 0.9)])
    assert _visible(photo) == ["Dog"]
    assert Tag.select().count() == 1
