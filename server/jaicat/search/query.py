"""Finding photos: text -> photo (CLIP), photo -> similar photos, tag/person/folder/date/status
filters (all combinable), a query-string parser, and near-duplicate groups.

Query syntax (`parse_query`), words without a key are the free text matched by CLIP:
    beach at sunset tag:dog person:"Amy H" folder:Family after:2024-01-01 before:2024-07 status:filed
    -tag:screenshot          exclude a tag        date:2024-07   within that month (or year / day)
    similar:12               photos like photo 12 (free text is then ignored)
    is:favourite             starred photos only
Photos in the trash are never found.
Several tag:/person: must all match; several folder:/status: are alternatives. after: is inclusive,
before: exclusive; dates apply to taken_at, or to the import time for photos without EXIF dates.
Folders match the folder and its subfolders. Without CLIP weights free text falls back to matching
captions and tags word by word.

Free text finds exact matches first, then CLIP's ranking (`search`): a photo whose person, tag or
folder is named by the whole text, or whose caption, tags, people, file name and folder contain every
word that matters, is never lost behind CLIP. A name with spaces typed without quotes
(`person:Angelina Jolie`) is read as the known person or tag it spells, with a hint (`resolve_names`).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from peewee import SQL, fn

from .. import events
from ..config import Settings
from ..db import Face, Person, Photo, PhotoTag, Region, Tag, blob_to_vec, database
from ..errors import InvalidInput, ModelUnavailable
from ..migrations import PHOTO_TEXT
from ..models.clip import embed_text
from ..models.base import ModelCache
from .exact import exact_matches
from .index import VectorIndex
from .index_store import IndexStore

BRUTE_FORCE_FILTERED = 50_000  # filtered candidate sets up to this size are ranked exactly
# CLIP's ranking of a text query stops where its cosine falls this far below the best photo's: a
# query finds the photos that look like it, not the whole library in some order
CLIP_SPREAD = 0.06

_TOKEN = re.compile(r'(-?)([A-Za-z_]+):(?:"([^"]*)"|(\S+))|"([^"]*)"|(\S+)')
_KEYS = {"is": "is", "tag": "tags", "person": "people", "folder": "folders", "in": "folders", "status": "statuses",
         "after": "after", "before": "before", "date": "date", "on": "date", "similar": "similar"}


@dataclass
class Query:
    text: str = ""
    tags: list[str] = field(default_factory=list)
    exclude_tags: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    after: dt.datetime | None = None  # inclusive
    before: dt.datetime | None = None  # exclusive
    similar: int | None = None
    directly_in: str | None = None  # only photos directly in this library folder ("" = its root)
    favourite: bool = False  # only starred photos
    filed_by: str | None = None  # only photos filed where they are by "user" or "auto" (the auto-filer)
    words: list[str] = field(default_factory=list)  # the free text's words and "phrases", in order
    # (slot, index in its list, index in `words` right after it): where an unquoted name may go on
    unquoted: list[tuple[str, int, int]] = field(default_factory=list)
    image_search: bool | None = None  # set by search(): False when CLIP could not rank (no weights)

    @property
    def has_filters(self) -> bool:
        return bool(self.tags or self.exclude_tags or self.people or self.folders or self.statuses
                    or self.after or self.before or self.directly_in is not None or self.favourite
                    or self.filed_by is not None)


@dataclass
class SearchHit:
    photo: Photo
    score: float | None  # cosine similarity (text/photo queries) or word-match fraction; None if unranked
    match: str | None = None  # an exact match's kind (search/exact.py KINDS); None for CLIP's ranking


def _date_span(value: str) -> tuple[dt.datetime, dt.datetime]:
    """"2024" / "2024-07" / "2024-07-14" -> [start, end) of that year / month / day."""
    m = re.fullmatch(r"(\d{4})(?:[-/](\d{1,2}))?(?:[-/](\d{1,2}))?", value.strip())
    if not m:
        raise InvalidInput(f"bad date {value!r}: use YYYY, YYYY-MM or YYYY-MM-DD")
    y, mo, d = int(m[1]), int(m[2] or 1), int(m[3] or 1)
    try:
        start = dt.datetime(y, mo, d)
    except ValueError:
        raise InvalidInput(f"bad date {value!r}") from None
    if m[3]:
        end = start + dt.timedelta(days=1)
    elif m[2]:
        end = dt.datetime(y + (mo == 12), mo % 12 + 1, 1)
    else:
        end = dt.datetime(y + 1, 1, 1)
    return start, end


def parse_query(text: str) -> Query:
    """Parse a search string (syntax in the module docstring); unknown `key:value` words stay free text."""
    q = Query()
    words = []
    for m in _TOKEN.finditer(text or ""):
        neg, key, quoted, bare, phrase, word = m.groups()
        if key is None:
            words.append(phrase if phrase is not None else word)
            continue
        value = quoted if quoted is not None else bare
        slot = _KEYS.get(key.lower())
        if slot is None:
            words.append(m.group(0))
        elif slot in _LIST_SLOTS:
            _add_filter(q, slot, value, bool(neg), quoted is not None, len(words))
        else:
            _set_filter(q, slot, value)
    q.words = [w for w in words if w]
    q.text = " ".join(q.words).strip()
    for s in q.statuses:
        if s not in Photo.STATUSES:
            raise InvalidInput(f"status:{s}: expected one of {', '.join(Photo.STATUSES)}")
    return q


_LIST_SLOTS = ("tags", "people", "folders", "statuses")


def _add_filter(q: Query, slot: str, value: str, neg: bool, quoted: bool, at: int) -> None:
    """One more tag:/person:/folder:/status: (a tag may be excluded); an unquoted tag or person is
    noted with `at`, the index in the words where its name may go on (resolve_names)."""
    if slot == "tags":
        target = q.exclude_tags if neg else q.tags
        if not quoted and not neg:
            q.unquoted.append(("tags", len(target), at))
        target.append(value)
        return
    if slot == "people" and not quoted:
        q.unquoted.append(("people", len(q.people), at))
    getattr(q, slot).append(value.strip("/") if slot == "folders" else value)


def _set_filter(q: Query, slot: str, value: str) -> None:
    """after:/before:/date:, is: or similar:, checked."""
    if slot == "after":
        q.after = _date_span(value)[0]
    elif slot == "before":
        q.before = _date_span(value)[0]
    elif slot == "date":
        q.after, q.before = _date_span(value)
    elif slot == "is":
        if value.lower() not in ("favourite", "favorite", "fav", "starred"):
            raise InvalidInput(f"is:{value}: expected is:favourite")
        q.favourite = True
    elif slot == "similar":
        if not value.isdigit():
            raise InvalidInput(f"similar: needs a photo id, not {value!r}")
        q.similar = int(value)


def _tagged(name: str):
    """Ids of the photos carrying tag `name` (in any case, as tags are matched everywhere)."""
    # the tag's ids first (a few rows), so casefold runs on the tags, not on every photo's tag row
    names = Tag.select(Tag.id).where(fn.casefold(Tag.name) == name.strip().casefold())
    return PhotoTag.select(PhotoTag.photo).where(PhotoTag.tag.in_(names), PhotoTag.removed == False)  # noqa: E712


def filtered_photos(q: Query):
    """A peewee query of the photos passing `q`'s filters (free text and `similar` not applied)."""
    sel = Photo.live().where(Photo.live_of.is_null())  # a Live Photo is listed once, as its still
    if q.favourite:
        sel = sel.where(Photo.favourite == True)  # noqa: E712
    if q.filed_by is not None:
        sel = sel.where(Photo.filed_by == q.filed_by)  # read off its index
    for name in q.tags:
        sel = sel.where(Photo.id.in_(_tagged(name)))
    for name in q.exclude_tags:
        sel = sel.where(Photo.id.not_in(_tagged(name)))
    for who in q.people:
        cond = (Person.id == int(who)) if str(who).isdigit() else (fn.casefold(Person.name) == who.strip().casefold())
        sel = sel.where(Photo.id.in_(Face.select(Face.photo).where(Face.person.in_(Person.select(Person.id).where(cond)))))
    if q.folders:
        cond = None
        for folder in q.folders:
            f = folder.strip().strip("/")
            c = ((Photo.root == "library") & (fn.substr(Photo.path, 1, len(f) + 1) == f + "/")
                 & (Photo.path >= f + "/") & (Photo.path < f + "0"))
            if not f:
                c = (Photo.root == "library") & ~(Photo.path.contains("/"))
            cond = c if cond is None else cond | c
        sel = sel.where(cond)
    if q.directly_in is not None:
        # substr, not LIKE: LIKE is case-insensitive in SQLite and folders are not
        prefix = q.directly_in.strip("/") + "/" if q.directly_in.strip("/") else ""
        sel = sel.where(Photo.root == "library")
        if prefix:
            # the range reads the folder's rows off the (root, path) index ("0" follows "/")
            sel = sel.where(fn.substr(Photo.path, 1, len(prefix)) == prefix,
                            Photo.path >= prefix, Photo.path < prefix[:-1] + "0")
        sel = sel.where(fn.instr(fn.substr(Photo.path, len(prefix) + 1), "/") == 0)
    if q.statuses:
        sel = sel.where(Photo.status.in_(q.statuses))
    when = fn.COALESCE(Photo.taken_at, Photo.created_at)
    if q.after:
        sel = sel.where(when >= q.after)
    if q.before:
        sel = sel.where(when < q.before)
    return sel


# --- the vector indexes ------------------------------------------------------------------------------
def load_vectors(select) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) from a query yielding (id, blob); vectors of another length than the most common
    one (left from an earlier model) are ignored. Closes the DB connection if it opened one (threads)."""
    was_closed = database.is_closed()
    try:
        rows = [(i, b) for i, b in select.tuples() if b]
    finally:
        if was_closed and not database.is_closed():
            database.close()
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    size = Counter(len(b) for _, b in rows).most_common(1)[0][0]
    rows = [(i, b) for i, b in rows if len(b) == size]
    ids = np.fromiter((i for i, _ in rows), dtype=np.int64, count=len(rows))
    vecs = np.frombuffer(b"".join(b for _, b in rows), dtype="<f4").reshape(len(rows), -1)
    return ids, vecs.astype(np.float32)


class Indexes:
    """The catalogue's vector indexes: whole-photo CLIP embeddings (`photos`) and region crops
    (`regions`), each built on first use and saved under the data dir, so a restart reuses the built
    annoy index (search/index_store.py). The Runtime holds one (`runtime.indexes`) and connects it,
    so a photo analysed in the process is searchable at once; a command or a test without one gets
    a private one, loaded from the catalogue."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._built: dict[str, VectorIndex] = {}

    def _index(self, name: str, loader) -> VectorIndex:
        with self._lock:
            idx = self._built.get(name)
            if idx is None:
                store = IndexStore(self.settings.data_dir / "index", name)
                idx = self._built[name] = VectorIndex(name, loader, store=store)
            return idx

    @property
    def photos(self) -> VectorIndex:
        return self._index("photos", lambda: load_vectors(
            Photo.select(Photo.id, Photo.embedding).where(Photo.embedding.is_null(False))))

    @property
    def regions(self) -> VectorIndex:
        return self._index("regions", lambda: load_vectors(
            Region.select(Region.id, Region.embedding).where(Region.embedding.is_null(False))))

    def connect(self) -> Indexes:
        """Follow `photo_embedded`: photos analysed in this process join `photos` at once."""
        events.photo_embedded.connect(self._photo_embedded)
        return self

    def close(self) -> None:
        events.photo_embedded.disconnect(self._photo_embedded)

    def _photo_embedded(self, settings: Settings, photo_id: int, embedding) -> None:
        if settings.db_path == self.settings.db_path:
            self.photos.add(photo_id, embedding)


def _rank(indexes: Indexes, vec: np.ndarray, q: Query, limit: int, offset: int,
          exclude: set[int]) -> list[tuple[int, float]]:
    if not q.has_filters:
        trashed = {i for (i,) in Photo.select(Photo.id).where(Photo.trashed_at.is_null(False)).tuples()}
        return indexes.photos.query(vec, offset + limit, exclude=exclude | trashed)[offset:]
    ids = [i for (i,) in filtered_photos(q).select(Photo.id).where(Photo.embedding.is_null(False)).tuples()
           if i not in exclude]
    if len(ids) > BRUTE_FORCE_FILTERED:
        allowed = set(ids)
        return indexes.photos.query(vec, offset + limit, exclude=exclude, allow=allowed.__contains__)[offset:]
    scored = []
    for start in range(0, len(ids), 5000):
        chunk_ids, mat = load_vectors(Photo.select(Photo.id, Photo.embedding).where(Photo.id.in_(ids[start:start + 5000])))
        if len(chunk_ids) and mat.shape[1] == vec.shape[0]:
            mat = mat / np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
            scored += zip(chunk_ids.tolist(), (mat @ vec).tolist(), strict=True)
    scored.sort(key=lambda t: (-t[1], t[0]))
    return scored[offset:offset + limit]


def _text_fallback(q: Query, limit: int, offset: int) -> list[tuple[int, float]]:
    """Without CLIP: photos whose caption, description, tags or file name have words starting with the
    query's words (read off the exact-match index; a word outside ASCII anywhere in them), most words
    first."""
    words = [w for w in re.findall(r"\w+", q.text.lower()) if len(w) > 1]
    if not words:
        return []
    hits: Counter = Counter()
    base = filtered_photos(q).select(Photo.id)
    for w in words:
        if w.isascii():
            found = base.where(Photo.id.in_(SQL(f"(SELECT rowid FROM {PHOTO_TEXT} WHERE {PHOTO_TEXT} MATCH ?)",
                                                [f'{{caption description tags filename}} : "{w}"*'])))
        else:
            by_caption = base.where(Photo.caption.contains(w) | Photo.description.contains(w))
            found = by_caption.union(base.where(Photo.id.in_(
                PhotoTag.visible(PhotoTag.photo).where(Tag.name.contains(w)))))
        for (i,) in found.tuples():
            hits[i] += 1
    ranked = sorted(((i, n / len(words)) for i, n in hits.items()), key=lambda t: (-t[1], -t[0]))
    return ranked[offset:offset + limit]


def search(settings: Settings, query: str | Query, limit: int = 50, offset: int = 0,
           models: ModelCache | None = None, indexes: Indexes | None = None) -> list[SearchHit]:
    """Photos matching `query` (string or Query): best match first when there is free text or
    `similar:`, otherwise newest first (taken_at, then import time).
    `models`, `indexes`: the runtime's ModelCache and Indexes (private ones, loading CLIP and the
    embeddings anew, if not given)."""
    q = parse_query(query) if isinstance(query, str) else query
    limit, offset = max(0, int(limit)), max(0, int(offset))
    if q.similar is not None:
        return similar_photos(settings, q.similar, k=limit, query=q, offset=offset, indexes=indexes)
    if not q.text:
        when = fn.COALESCE(Photo.taken_at, Photo.created_at)
        rows = filtered_photos(q).order_by(when.desc(), Photo.id.desc()).offset(offset).limit(limit)
        return [SearchHit(p, None) for p in rows]
    # exact matches first (never lost behind CLIP), then CLIP's ranking of every other photo
    exact = exact_matches(q.text, filtered_photos(q))
    exact_ids = {i for i, _ in exact}
    page_exact = exact[offset:offset + limit]
    need, rest_offset = limit - len(page_exact), max(0, offset - len(exact))
    ranked: list[tuple[int, float]] | None = []
    if need:
        try:
            ranked = _ranked_by_text(settings, q, need, rest_offset, exact_ids, models, indexes)
            q.image_search = True
        except ModelUnavailable:
            ranked, q.image_search = None, False
        if not ranked and (rest_offset == 0 or ranked is None):  # no weights, or nothing embedded yet
            ranked = [(i, s) for i, s in _text_fallback(q, need + len(exact_ids), rest_offset)
                      if i not in exact_ids][:need]
    kinds = dict(page_exact)
    return _hits([(i, 1.0) for i, _ in page_exact] + (ranked or []), kinds)


def _ranked_by_text(settings: Settings, q: Query, limit: int, offset: int, exclude: set[int],
                    models: ModelCache | None, indexes: Indexes | None) -> list[tuple[int, float]]:
    """CLIP's ranking of the photos for q.text, cut at CLIP_SPREAD below the best one's score."""
    indexes = indexes or Indexes(settings)
    vec = embed_text(settings, q.text, models or ModelCache())
    ranked = _rank(indexes, vec, q, limit, offset, exclude)
    if not ranked:
        return ranked
    best = ranked[0][1] if offset == 0 else _rank(indexes, vec, q, 1, 0, exclude)[0][1]
    return [(i, s) for i, s in ranked if s >= best - CLIP_SPREAD]


def _hits(ranked: list[tuple[int, float]], kinds: dict[int, str] | None = None) -> list[SearchHit]:
    photos = {p.id: p for p in Photo.live().where(Photo.id.in_([i for i, _ in ranked]))}
    kinds = kinds or {}
    return [SearchHit(photos[i], round(float(s), 4), kinds.get(i)) for i, s in ranked if i in photos]


def similar_photos(settings: Settings, photo_id: int, k: int = 20, query: Query | None = None,
                   offset: int = 0, indexes: Indexes | None = None) -> list[SearchHit]:
    """Photos most like `photo_id` by CLIP embedding (itself excluded), optionally filtered."""
    photo = Photo.get_or_404(photo_id)
    if photo.embedding is None:
        raise ModelUnavailable(f"photo {photo_id} has no embedding yet (not analysed with CLIP)")
    vec = blob_to_vec(photo.embedding).astype(np.float32)
    q = query or Query()
    return _hits(_rank(indexes or Indexes(settings), vec / max(float(np.linalg.norm(vec)), 1e-12), q, k, offset,
                       {photo.id}))


# --- near duplicates ---------------------------------------------------------------------------------
def _chunks(max_hamming: int) -> list[tuple[int, int]]:
    """Split 64 bits into max_hamming+1 (shift, width) pieces: two hashes within max_hamming bits
    agree exactly on at least one piece (pigeonhole), so only bucket-mates need comparing."""
    m = max_hamming + 1
    widths = [64 // m + (1 if i < 64 % m else 0) for i in range(m)]
    out, shift = [], 0
    for w in widths:
        out.append((shift, w))
        shift += w
    return out


# Immich groups duplicates at CLIP cosine distance <= 0.01 (its default maxDistance): an HDR on/off
# pair or a re-encode of one scene, which perceptual hashes can put 16+ bits apart.
CLIP_DUPLICATE_DISTANCE = 0.01
_CLIP_BLOCK = 256  # rows of the similarity matrix at a time: 256 x N float32 stays small


def _clip_pairs(max_distance: float) -> list[tuple[int, int]]:
    """Photo id pairs whose CLIP embeddings are within `max_distance` cosine distance (exact, blockwise)."""
    ids, mat = load_vectors(Photo.select(Photo.id, Photo.embedding)
                            .where(Photo.embedding.is_null(False), Photo.live_of.is_null()))
    if len(ids) < 2:
        return []
    mat = mat / np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
    out = []
    for start in range(0, len(ids), _CLIP_BLOCK):
        sim = mat[start:start + _CLIP_BLOCK] @ mat.T
        a, b = np.nonzero(sim >= 1.0 - max_distance)
        a = a + start
        keep = a < b
        out += [(int(ids[x]), int(ids[y])) for x, y in zip(a[keep], b[keep], strict=True)]
    return out


def near_duplicate_groups(max_hamming: int = 6, min_similarity: float = 0.9,
                          clip_distance: float = CLIP_DUPLICATE_DISTANCE) -> list[list[dict]]:
    """Groups of photos ([{"id", "path": "<root>/<path>", "filename", "folder"}], ids ascending;
    groups ordered by first id): photos whose CLIP embeddings are within `clip_distance` cosine
    distance, or whose 64-bit perceptual hashes differ in at most `max_hamming` bits and, where both
    have CLIP embeddings, whose cosine similarity is at least `min_similarity` (keeps a re-crop or
    burst shot, drops look-alike hashes of different scenes). `folder` is the library folder, None in
    the inbox. Exact byte duplicates never reach the catalogue (sha256 is unique)."""
    if not 0 <= max_hamming <= 32:
        raise InvalidInput("max_hamming must be between 0 and 32")
    if not 0 <= clip_distance < 1:
        raise InvalidInput("clip_distance must be between 0 and 1")
    ids, hashes = _phashes()
    if len(ids) < 2:
        return []
    clip_pairs = _clip_pairs(clip_distance) if clip_distance > 0 else []
    pairs = [(int(ids[a]), int(ids[b])) for a, b in _phash_pairs(hashes, max_hamming)]
    if not pairs and not clip_pairs:
        return []
    involved = sorted({i for p in pairs + clip_pairs for i in p})
    return _described(_components(involved, _alike(pairs, min_similarity) + clip_pairs))


def _phashes() -> tuple[np.ndarray, np.ndarray]:
    """(photo ids, 64-bit perceptual hashes) of the photos that have one."""
    # a Live Photo's motion part looks like its still by design: not a duplicate
    rows = [(i, h) for i, h in Photo.select(Photo.id, Photo.phash).where(Photo.live_of.is_null()).tuples() if h]
    return (np.array([i for i, _ in rows], dtype=np.int64),
            np.array([int(h, 16) & (2**64 - 1) for _, h in rows], dtype=np.uint64))


def _phash_pairs(hashes: np.ndarray, max_hamming: int) -> set[tuple[int, int]]:
    """Index pairs (a < b) of the hashes that differ in at most `max_hamming` bits, comparing only the
    hashes that share a bucket of one of the chunks (_chunks)."""
    pairs: set[tuple[int, int]] = set()
    for shift, width in _chunks(max_hamming):
        keys = (hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable")
        bounds = np.flatnonzero(np.diff(keys[order])) + 1
        for grp in np.split(order, bounds):
            if len(grp) >= 2:
                _bucket_pairs(grp, hashes[grp], max_hamming, pairs)
    return pairs


def _bucket_pairs(grp: np.ndarray, sub: np.ndarray, max_hamming: int, pairs: set) -> None:
    """Add to `pairs` the index pairs of one bucket (`grp`, hashes `sub`) within `max_hamming` bits."""
    for start in range(0, len(grp), 2048):  # row blocks bound memory for big buckets
        dist = np.bitwise_count(sub[start:start + 2048, None] ^ sub[None, :])
        a, b = np.nonzero(dist <= max_hamming)
        a = a + start
        keep = a < b
        pairs.update(zip(grp[a[keep]].tolist(), grp[b[keep]].tolist(), strict=True))


def _alike(pairs: list[tuple[int, int]], min_similarity: float) -> list[tuple[int, int]]:
    """The pairs of photos with close hashes that show one scene: their CLIP embeddings' cosine
    similarity is at least `min_similarity`, or one of them has none (or of another model) to tell."""
    emb = {i: blob_to_vec(b) for i, b in Photo.select(Photo.id, Photo.embedding)
           .where(Photo.id.in_(sorted({i for p in pairs for i in p})), Photo.embedding.is_null(False)).tuples()}
    out = []
    for a, b in pairs:
        ea, eb = emb.get(a), emb.get(b)
        if ea is not None and eb is not None and ea.shape == eb.shape:
            cos = float(ea @ eb) / max(float(np.linalg.norm(ea) * np.linalg.norm(eb)), 1e-12)
            if cos < min_similarity:
                continue
        out.append((a, b))
    return out


def _components(nodes: list[int], edges: list[tuple[int, int]]) -> list[list[int]]:
    """The connected components of more than one node (union-find), each sorted, ordered by first id."""
    parent = {i: i for i in nodes}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for i in nodes:
        groups.setdefault(find(i), []).append(i)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def _described(groups: list[list[int]]) -> list[list[dict]]:
    """Each group's photos as {"id", "path", "filename", "folder"} (photos gone meanwhile left out)."""
    rows = {p.id: p for p in Photo.select(Photo.id, Photo.root, Photo.path, Photo.original_filename)
            .where(Photo.id.in_([i for g in groups for i in g]))}
    return [[{"id": i, "path": f"{rows[i].root}/{rows[i].path}", "filename": rows[i].original_filename,
              "folder": rows[i].folder} for i in g if i in rows] for g in groups]
