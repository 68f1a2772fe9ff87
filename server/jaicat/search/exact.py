"""Exact matches for free text, found before CLIP ranks anything: what a user typed that names a
person, a tag or a folder, or words the photo's caption, tags, people, file name and folder all carry.
And unquoted names with spaces (`person:Angelina Jolie`), read as the person or tag they spell.

Kinds, best first: "person", "tag", "folder" (the whole text names one), then "words" (every word that
matters is found on the photo). Words that matter: two letters or more, not a stopword, so "a dog on
the beach" needs both "dog" and "beach".

Words are looked up in the catalogue's FTS5 index (`phototext`, migrations.py: one row per photo, kept
in step by triggers), so a query costs the photos that match, not a pass over the catalogue. The index
holds what a word is here: a run of letters, digits and "_", in any case; a file name also holds its
parts between "_" (`immich_IMG_2682.heic` is found by `immich_img_2682`, `img_2682` and `immich`),
so a word with "_" is looked for whole or as its parts in a row. A word outside ASCII, where
Python's casefold and SQLite's case folding may differ, is found by the scan it replaced
(`index=False` reads every word that way; the tests compare both).
"""

from __future__ import annotations

import re

from peewee import SQL, fn

from ..db import Face, Person, Photo, PhotoTag, Tag
from ..migrations import PHOTO_TEXT

KINDS = ("person", "tag", "folder", "words")
MAX_EXACT = 5000  # exact matches considered for one query (a household library rarely has more)
STOPWORDS = frozenset("""a an and at by for from in into of on or the to with without my our your
    his her their its this that these those is are was were be photo photos picture pictures""".split())
_WORD = re.compile(r"\w+", re.UNICODE)


def content_words(text: str) -> list[str]:
    """The words of `text` that matter for matching, casefolded, in order, without repeats."""
    out = []
    for w in _WORD.findall(text.casefold()):
        if len(w) > 1 and w not in STOPWORDS and w not in out:
            out.append(w)
    return out


def _like(column, word: str):
    """`column` contains `word`, ignoring case: SQLite's LIKE (case-insensitive for ASCII, and fast: no
    Python call per row) for ASCII words, the casefold function otherwise. Callers check the hits."""
    return column.contains(word) if word.isascii() else fn.casefold(column).contains(word)


def _indexed(match: str):
    """Ids of the photos whose index row matches the FTS5 expression `match` (a subquery)."""
    return SQL(f"(SELECT rowid FROM {PHOTO_TEXT} WHERE {PHOTO_TEXT} MATCH ?)", [match])


def _phrase(words: list[str]) -> str:
    return '"' + " ".join(words) + '"'


def _word_match(word: str) -> str:
    """The FTS5 expression of one query word: itself, or (with "_") itself or its parts in a row."""
    return f"({_phrase([word])} OR {_phrase(word.split('_'))})" if "_" in word.strip("_") else _phrase([word])


def _name_text(name: str | None) -> str:
    """A file name as the index reads it (migrations.py _NAME): whole, then split at "_"."""
    return f"{name} {name.replace('_', ' ')}" if name and "_" in name else name or ""


def _word_pattern(word: str) -> re.Pattern:
    """`word` as a whole word, or (with "_") its parts in a row, as _word_match finds it."""
    forms = [re.escape(word)] + ([re.escape(word.replace("_", " "))] if "_" in word.strip("_") else [])
    return re.compile(rf"(?<!\w)(?:{'|'.join(forms)})(?!\w)")


def _named(text: str, base, index: bool = True) -> dict[int, str]:
    """Photos in `base` whose person, tag or folder the whole text names (casefold)."""
    name = text.strip().casefold()
    found: dict[int, str] = {}
    if not name:
        return found
    # the names first (a few rows), then their photos through the person and tag indexes
    people = Face.select(Face.photo).where(Face.person.in_(
        Person.select(Person.id).where(fn.casefold(Person.name) == name)))
    for (i,) in base.select(Photo.id).where(Photo.id.in_(people)).limit(MAX_EXACT).tuples():
        found.setdefault(i, "person")
    tagged = PhotoTag.select(PhotoTag.photo).where(
        PhotoTag.tag.in_(Tag.select(Tag.id).where(fn.casefold(Tag.name) == name)), PhotoTag.removed == False)  # noqa: E712
    for (i,) in base.select(Photo.id).where(Photo.id.in_(tagged)).limit(MAX_EXACT).tuples():
        found.setdefault(i, "tag")
    # a folder named by the text: its last part ("Summer") or its whole path ("Family/Summer"); the
    # index finds the photos whose folder has its words in a row, the parts are checked here
    words = _WORD.findall(name)
    if index and words and name.isascii():
        near = Photo.id.in_(_indexed("folder : " + _phrase(words)))
    else:
        near = (Photo.root == "library") & _like(Photo.path, name)
    rows = (base.select(Photo.id, Photo.path).where(near & (Photo.root == "library"))
            .order_by(Photo.id.desc()).limit(MAX_EXACT * 4).tuples())
    folders = 0
    for i, path in rows:
        parts = path.casefold().split("/")[:-1]
        if name in parts or "/".join(parts) == name or "/".join(parts).endswith("/" + name):
            found.setdefault(i, "folder")
            folders += 1
            if folders >= MAX_EXACT:  # newest first: the ones after these could not be kept
                break
    return found


def _carrying(word: str, base) -> set[int]:
    """Photos in `base` carrying `word` as a word of their description, caption, tags, people, file name
    or folder."""
    ids: set[int] = set()
    pattern = _word_pattern(word)
    for i, caption, description, name, path, root in base.select(
            Photo.id, Photo.caption, Photo.description, Photo.original_filename, Photo.path, Photo.root).where(
            _like(Photo.caption, word) | _like(Photo.description, word) | _like(Photo.original_filename, word)
            | (_like(Photo.path, word) & (Photo.root == "library"))).tuples():
        folder = path.rsplit("/", 1)[0] if root == "library" and "/" in path else ""
        if any(pattern.search(s.casefold()) for s in (caption or "", description or "", _name_text(name), folder)):
            ids.add(i)
    tags = [t.id for t in Tag.select(Tag.id, Tag.name).where(fn.casefold(Tag.name).contains(word))
            if pattern.search(t.name.casefold())]
    if tags:
        tagged = PhotoTag.select(PhotoTag.photo).where(PhotoTag.tag.in_(tags), PhotoTag.removed == False)  # noqa: E712
        ids.update(i for (i,) in base.select(Photo.id).where(Photo.id.in_(tagged)).tuples())
    people = [p.id for p in Person.select(Person.id, Person.name).where(fn.casefold(Person.name).contains(word))
              if pattern.search(p.name.casefold())]
    if people:
        faces = Face.select(Face.photo).where(Face.person.in_(people))
        ids.update(i for (i,) in base.select(Photo.id).where(Photo.id.in_(faces)).tuples())
    return ids


def _carrying_all(words: list[str], candidates: set[int]) -> set[int]:
    """The candidates that carry every one of `words` (as _carrying reads a photo), read in a few queries."""
    texts: dict[int, list[str]] = {}
    ids = sorted(candidates)
    for start in range(0, len(ids), 900):  # SQLite's bound-variable limit, with room to spare
        chunk = ids[start:start + 900]
        for i, caption, description, name, path, root in Photo.select(
                Photo.id, Photo.caption, Photo.description, Photo.original_filename, Photo.path, Photo.root
        ).where(Photo.id.in_(chunk)).tuples():
            folder = path.rsplit("/", 1)[0] if root == "library" and "/" in path else ""
            texts[i] = [caption or "", description or "", _name_text(name), folder]
        for i, tag in PhotoTag.visible(PhotoTag.photo, Tag.name).where(PhotoTag.photo.in_(chunk)).tuples():
            texts.setdefault(i, []).append(tag)
        for i, person in Face.select(Face.photo, Person.name).join(Person).where(Face.photo.in_(chunk)).tuples():
            texts.setdefault(i, []).append(person)
    patterns = [_word_pattern(w) for w in words]
    return {i for i, parts in texts.items()
            if all(any(p.search(t.casefold()) for t in parts) for p in patterns)}


def exact_matches(text: str, base, index: bool = True) -> list[tuple[int, str]]:
    """(photo id, kind) of the photos in `base` (a Photo query: the search's filters) that `text`
    matches exactly, best kind first, then newest id first. At most MAX_EXACT.
    `index=False`: without the FTS5 index, by scanning the catalogue (what the index replaced)."""
    found = _named(text, base, index)
    words = sorted(content_words(text), key=len, reverse=True)  # a longer word is usually rarer
    if words and index and all(w.isascii() for w in words):
        # every word at once: FTS5 ANDs them, each found in any of the photo's texts
        # newest first, as many as can be kept: the named ones take their places first, and the
        # newest MAX_EXACT hold every one of the words matches that are kept
        for (i,) in base.select(Photo.id).where(Photo.id.in_(_indexed(" ".join(_word_match(w) for w in words)))) \
                .order_by(Photo.id.desc()).limit(MAX_EXACT).tuples():
            found.setdefault(i, "words")
    elif words:
        # one scan of the catalogue, for the first word; the others are checked on its few candidates
        common = _carrying(words[0], base)
        if common and words[1:]:
            common = _carrying_all(words[1:], common)
        for i in common:
            found.setdefault(i, "words")
    order = {k: n for n, k in enumerate(KINDS)}
    return sorted(found.items(), key=lambda t: (order[t[1]], -t[0]))[:MAX_EXACT]


def resolve_names(q) -> list[str]:
    """Read unquoted `person:`/`tag:` values followed by more words as the longest known name they
    start (`person:Angelina Jolie` -> person "Angelina Jolie"), taking those words out of the free text.
    Returns hints for the user: how the query was read, or that a name is unknown."""
    hints = []
    taken: set[int] = set()
    for slot, index, after in q.unquoted:
        values = getattr(q, slot)
        first = values[index]
        model, col = (Person, Person.name) if slot == "people" else (Tag, Tag.name)
        if slot == "people" and first.isdigit():
            continue
        key = "person" if slot == "people" else "tag"

        def known(name: str, model=model, col=col) -> str | None:
            row = model.get_or_none(fn.casefold(col) == name.casefold())
            return row.name if row else None

        best, used = None, 0
        name = first
        for n in range(0, len(q.words) - after + 1):
            if n:
                if after + n - 1 in taken:
                    break
                name = f"{name} {q.words[after + n - 1]}"
            hit = known(name)
            if hit:
                best, used = hit, n
        if best and used:
            values[index] = best
            taken.update(range(after, after + used))
            hints.append(f'Read as {key}:"{best}". Put names with spaces in quotes.')
        elif best is None:
            hints.append(f"No {key} is called “{first}”.")
    if taken:
        q.words = [w for i, w in enumerate(q.words) if i not in taken]
        q.text = " ".join(q.words)
    return hints
