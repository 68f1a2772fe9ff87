"""Search: query parser, filters (combinable), CLIP ranking, fallback without weights, near duplicates."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from jaicat.pipeline.analysis import Analyser
from jaicat.db import Face, Person, Photo, vec_to_blob
from jaicat.errors import InvalidInput
from jaicat.search.query import Indexes, Query, near_duplicate_groups, parse_query, search, similar_photos
from jaicat.photos.tags import add_tag, remove_tag


def test_parse_query_full_example():
    q = parse_query('beach tag:dog person:"Amy H" folder:Family after:2024-01-01 sunset -tag:screenshot')
    assert q.text == "beach sunset"
    assert q.tags == ["dog"] and q.exclude_tags == ["screenshot"]
    assert q.people == ["Amy H"] and q.folders == ["Family"]
    assert q.after == dt.datetime(2024, 1, 1) and q.before is None


def test_parse_query_dates_status_similar_and_unknown_keys():
    q = parse_query("date:2024-07 status:filed status:inbox similar:12 http://x.y")
    assert (q.after, q.before) == (dt.datetime(2024, 7, 1), dt.datetime(2024, 8, 1))
    assert q.statuses == ["filed", "inbox"] and q.similar == 12
    assert q.text == "http://x.y"  # unknown key stays text
    assert parse_query("before:2024").before == dt.datetime(2024, 1, 1)
    assert parse_query("date:2023-12").before == dt.datetime(2024, 1, 1)
    assert parse_query('"red car" folder:"Trips/New York"').folders == ["Trips/New York"]
    assert parse_query('"red car"').text == "red car"
    for bad in ("after:yesterday", "status:lost", "similar:abc", "date:2024-13"):
        with pytest.raises(InvalidInput):
            parse_query(bad)


@pytest.fixture
def library(ml_settings, add_photos, no_faces):
    """Six analysed photos: two filed under Family (one in a subfolder), tags, a person, dates."""
    photos = add_photos(6)
    ml_settings.captions, ml_settings.tag_top_k = False, 0  # only the tags set below (random models)
    Analyser(ml_settings).analyse(photos)
    p = [Photo.get_by_id(x.id) for x in photos]
    Photo.update(root="library", path="Family/a.jpg", status="filed").where(Photo.id == p[0].id).execute()
    Photo.update(root="library", path="Family/2024/b.jpg", status="filed").where(Photo.id == p[1].id).execute()
    Photo.update(root="library", path="Familyfriends/c.jpg", status="filed").where(Photo.id == p[2].id).execute()
    Photo.update(status="inbox").where(Photo.id.in_([p[3].id, p[4].id, p[5].id])).execute()
    for i, photo in enumerate(p):
        Photo.update(taken_at=dt.datetime(2023 + i % 3, 6, 1)).where(Photo.id == photo.id).execute()
    add_tag(p[0].id, "dog")
    add_tag(p[3].id, "Dog")
    add_tag(p[4].id, "dog")
    remove_tag(p[4].id, "dog")
    amy = Person.create(name="Amy H")
    Face.create(photo=p[3].id, x=0, y=0, w=0.1, h=0.1, encoding=b"", person=amy)
    return [x.id for x in p]


def _ids(hits):
    return [h.photo.id for h in hits]


def test_filters_combine(ml_settings, library):
    p = library
    assert sorted(_ids(search(ml_settings, "tag:dog"))) == [p[0], p[3]]  # removed tag excluded
    assert sorted(_ids(search(ml_settings, "folder:Family"))) == [p[0], p[1]]  # subfolder yes, sibling no
    assert _ids(search(ml_settings, 'person:"amy h"')) == [p[3]]
    assert _ids(search(ml_settings, "tag:dog folder:Family")) == [p[0]]
    assert sorted(_ids(search(ml_settings, "folder:Family folder:Familyfriends"))) == [p[0], p[1], p[2]]
    assert sorted(_ids(search(ml_settings, "status:inbox"))) == [p[3], p[4], p[5]]
    assert sorted(_ids(search(ml_settings, "after:2024-01-01 before:2025"))) == [p[1], p[4]]
    assert sorted(_ids(search(ml_settings, "-tag:dog status:filed"))) == [p[1], p[2]]
    # without free text: newest first
    dates = [h.photo.taken_at for h in search(ml_settings, "")]
    assert dates == sorted(dates, reverse=True) and all(h.score is None for h in search(ml_settings, ""))


def test_text_search_ranks_by_clip_similarity(ml_settings, library):
    from jaicat.models.clip import embed_text
    from jaicat.models.base import ModelCache

    hits = search(ml_settings, "a dog on the beach", limit=4)
    assert len(hits) == 4
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    q = embed_text(ml_settings, "a dog on the beach", ModelCache())
    from jaicat.db import blob_to_vec

    expected = sorted(library, key=lambda i: -float(blob_to_vec(Photo.get_by_id(i).embedding) @ q))[:4]
    assert _ids(hits) == expected
    # with filters the ranking is restricted to them
    filtered = search(ml_settings, "a dog on the beach folder:Family")
    assert sorted(_ids(filtered)) == [library[0], library[1]]
    # paging
    assert _ids(search(ml_settings, "a dog on the beach", limit=2, offset=2)) == expected[2:4]


def test_similar_photos_excludes_itself(ml_settings, library):
    hits = similar_photos(ml_settings, library[0], k=3)
    assert len(hits) == 3 and library[0] not in _ids(hits)
    same = search(ml_settings, f"similar:{library[0]}", limit=3)
    assert _ids(same) == _ids(hits)


def test_photo_index_includes_photos_analysed_after_build(ml_settings, library, add_photos):
    from jaicat.db import blob_to_vec
    from jaicat.events import photo_embedded

    indexes = Indexes(ml_settings).connect()
    try:
        idx = indexes.photos
        idx.brute_force_below = 0
        idx.rebuild(wait=True)
        assert idx.uses_annoy
        (new,) = add_photos(1, start=50)
        Analyser(ml_settings).analyse([new])
        emb = blob_to_vec(Photo.get_by_id(new.id).embedding)
        assert idx.query(emb, 1)[0][0] == new.id  # in the exact tail at once
        hits = search(ml_settings, f"similar:{library[0]}", limit=50, indexes=indexes)
        assert new.id in _ids(hits)
    finally:
        indexes.close()
    assert indexes._photo_embedded not in photo_embedded._receivers  # a closed one follows nothing


def test_text_search_without_weights_uses_captions_and_tags(settings, add_photos, no_faces):
    photos = add_photos(3)
    Photo.update(caption="A dog running on the beach").where(Photo.id == photos[0].id).execute()
    Photo.update(caption="A beach at sunset").where(Photo.id == photos[1].id).execute()
    add_tag(photos[2].id, "dog")
    hits = search(settings, "dog beach")
    assert _ids(hits)[0] == photos[0].id and set(_ids(hits)) == {p.id for p in photos}
    assert hits[0].score == 1.0 and hits[-1].score == 0.5


def test_tag_filters_match_tags_in_any_case(settings, add_photos, no_faces):
    photos = add_photos(3)
    add_tag(photos[0].id, "Élan")
    add_tag(photos[1].id, "STRASSE")
    assert _ids(search(settings, "tag:élan")) == [photos[0].id]
    assert _ids(search(settings, "tag:straße")) == [photos[1].id]
    assert set(_ids(search(settings, "-tag:ÉLAN"))) == {photos[1].id, photos[2].id}


def _gids(groups):
    return [[m["id"] for m in g] for g in groups]


def test_near_duplicate_groups_by_phash_and_embedding(settings, add_photos, no_faces):
    photos = add_photos(6)
    ids = [p.id for p in photos]
    base = 0x0123456789ABCDEF
    hashes = [base, base ^ 0b111, base ^ (1 << 63), base ^ 0xFFFF_0000_0000_0000, 0x0F0F0F0F0F0F0F0F,
              0x0F0F0F0F0F0F0F0E]
    e = np.eye(16, dtype=np.float32)
    embs = [e[0], e[0], e[0], e[0], e[1], e[2]]  # last two: close hashes, different content
    for i, h, v in zip(ids, hashes, embs, strict=True):
        Photo.update(phash=f"{h:016x}", embedding=vec_to_blob(v)).where(Photo.id == i).execute()
    groups = near_duplicate_groups(max_hamming=6, clip_distance=0)  # perceptual hashes alone
    assert _gids(groups) == [[ids[0], ids[1], ids[2]]]
    assert groups[0][0]["path"] == f"inbox/{Photo.get_by_id(ids[0]).path}"
    assert _gids(near_duplicate_groups(max_hamming=16, clip_distance=0)) == [[ids[0], ids[1], ids[2], ids[3]]]
    Photo.update(embedding=None).where(Photo.id == ids[5]).execute()  # no embedding: phash decides
    assert _gids(near_duplicate_groups(max_hamming=1, clip_distance=0)) == [[ids[0], ids[2]], [ids[4], ids[5]]]
    assert near_duplicate_groups(max_hamming=0, clip_distance=0) == []
    # CLIP distance joins ids[3] (hash 16 bits away, the same picture to CLIP) at the defaults
    assert _gids(near_duplicate_groups()) == [[ids[0], ids[1], ids[2], ids[3]], [ids[4], ids[5]]]


def test_clip_distance_finds_an_hdr_pair_that_phash_misses(settings, add_photos, no_faces):
    """An HDR on/off pair: perceptual hashes 16 bits apart (beyond the default 6), CLIP embeddings at
    cosine distance 0.004; an unrelated photo of the same kind sits at 0.05. Names and folders are
    what `jaicat dupes` shows."""
    photos = add_photos(3)
    ids = [p.id for p in photos]
    rng = np.random.default_rng(5)
    v = rng.normal(size=16).astype(np.float32)
    v /= np.linalg.norm(v)

    def at_distance(d: float) -> np.ndarray:
        w = rng.normal(size=16).astype(np.float32)
        w -= (w @ v) * v
        w /= np.linalg.norm(w)
        return (1 - d) * v + np.sqrt(1 - (1 - d) ** 2) * w  # cosine to v is exactly 1 - d

    base = 0x0123456789ABCDEF
    for i, h, e in zip(ids, [base, base ^ 0xFFFF, 0x7E7E7E7E7E7E7E7E], [v, at_distance(0.004), at_distance(0.05)],
                       strict=True):
        Photo.update(phash=f"{h:016x}", embedding=vec_to_blob(e)).where(Photo.id == i).execute()
    assert near_duplicate_groups(clip_distance=0) == []
    (group,) = near_duplicate_groups()
    assert [m["id"] for m in group] == ids[:2]
    assert [m["filename"] for m in group] == [Photo.get_by_id(i).original_filename for i in ids[:2]]
    assert {m["folder"] for m in group} == {None}  # both still in the inbox


def test_near_duplicates_match_brute_force_on_random_hashes(settings, add_photos, no_faces):
    photos = add_photos(40)
    rng = np.random.default_rng(3)
    hs = rng.integers(0, 2**63, size=40, dtype=np.int64).astype(np.uint64)
    hs[10:20] = hs[0] ^ (np.uint64(1) << rng.integers(0, 64, 10).astype(np.uint64))  # 1-bit variants
    for p, h in zip(photos, hs, strict=True):
        Photo.update(phash=f"{int(h):016x}").where(Photo.id == p.id).execute()
    groups = _gids(near_duplicate_groups(max_hamming=4))
    # brute force union of pairs within 4 bits
    ids = [p.id for p in photos]
    pairs = [(a, b) for a in range(40) for b in range(a + 1, 40) if bin(int(hs[a]) ^ int(hs[b])).count("1") <= 4]
    members = sorted({ids[x] for pr in pairs for x in pr})
    assert sorted(i for g in groups for i in g) == members
    assert ids[0] in groups[0]


def test_query_object_is_accepted(ml_settings, library):
    assert _ids(search(ml_settings, Query(tags=["dog"], folders=["Family"]))) == [library[0]]


def test_text_search_before_any_embedding_falls_back_to_words(ml_settings, add_photos):
    """Weights present but nothing embedded yet (photos analysed before `models pull`)."""
    photos = add_photos(2)
    Photo.update(caption="Receipt from the bakery").where(Photo.id == photos[1].id).execute()
    assert _ids(search(ml_settings, "bakery receipt")) == [photos[1].id]


def test_exact_matches_come_before_clip_and_are_never_lost(ml_settings, library):
    """With CLIP installed, a person's name, a tag, a folder or a caption's words typed as plain text
    find the photos that carry them first; CLIP's ranking of the others follows."""
    from jaicat.search.exact import resolve_names

    p = library
    Photo.update(caption="Grandma blowing out candles").where(Photo.id == p[5]).execute()
    assert [(h.photo.id, h.match) for h in search(ml_settings, "amy h")][0] == (p[3], "person")
    dog = search(ml_settings, "dog", limit=6)
    assert sorted(_ids(dog)[:2]) == sorted([p[0], p[3]]) and {h.match for h in dog[:2]} == {"tag"}
    assert len(dog) == 6 and all(h.match is None for h in dog[2:])  # CLIP's ranking follows
    assert _ids(search(ml_settings, "grandma candles"))[0] == p[5]
    assert search(ml_settings, "grandma candles")[0].match == "words"
    assert sorted(_ids(search(ml_settings, "family", limit=2))) == sorted([p[0], p[1]])
    # paging: exact matches then the rest, nothing twice
    pages = _ids(search(ml_settings, "dog", limit=4)) + _ids(search(ml_settings, "dog", limit=4, offset=4))
    assert sorted(pages) == sorted(p)
    # person:Amy H (unquoted) is the person "Amy H", not "Amy" plus the word "H"
    q = parse_query("person:amy h")
    assert resolve_names(q) == ['Read as person:"Amy H". Put names with spaces in quotes.']
    assert q.people == ["Amy H"] and q.text == ""
    assert _ids(search(ml_settings, q)) == [p[3]]
    q = parse_query("person:Zed beach")
    assert resolve_names(q) == ["No person is called “Zed”."] and q.text == "beach"


def test_clip_ranking_is_cut_by_score(ml_settings, library, monkeypatch):
    """A text query gets the photos that look like it, not the whole library: CLIP's ranking stops
    CLIP_SPREAD below the best score, on every page."""
    from jaicat.search import query as search_query

    everything = search(ml_settings, "a dog on the beach", limit=50)
    best = everything[0].score
    assert all(h.score >= best - search_query.CLIP_SPREAD for h in everything)
    monkeypatch.setattr(search_query, "CLIP_SPREAD", (best - everything[1].score) / 2)
    assert _ids(search(ml_settings, "a dog on the beach", limit=50)) == [everything[0].photo.id]
    assert search(ml_settings, "a dog on the beach", limit=2, offset=1) == []  # a later page is cut alike
