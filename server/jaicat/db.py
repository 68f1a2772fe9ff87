"""The catalogue: peewee models over SQLite (WAL). The database is bound at start-up by `open_db`.

Coordinates of faces and regions are normalised (0-1) on the upright (EXIF-applied) image.
Vectors (embeddings, face encodings) are stored as little-endian float32 blobs (`vec_to_blob`).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
from peewee import (
    BlobField,
    BooleanField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    NodeList,
    SQL,
    SqliteDatabase,
    TextField,
    fn,
)

from .errors import InvalidInput, NotFound

# Transactions BEGIN IMMEDIATE: a deferred transaction that reads and then writes fails at once
# with "database is locked" if another connection committed in between (WAL snapshot; SQLite does not
# apply busy_timeout to that upgrade). Taking the write lock up front makes it wait its turn instead.
database = SqliteDatabase(None, lock_type="IMMEDIATE")



def _casefold(text: str | None) -> str | None:
    return None if text is None else text.casefold()


# SQLite's lower() folds ASCII only; tag names are matched with Python's casefold ("Élan" = "élan",
# "STRASSE" = "straße"), registered on every connection the catalogue opens.
database.register_function(_casefold, "casefold", 1, deterministic=True)

PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",  # safe in WAL mode: a crash loses at most the last commits, never corrupts
    "busy_timeout": 10000,
    "cache_size": -32000,
}


# When a photo was taken, as far as anything in the file says: a date read from the file's own
# metadata. A date from the file's modification time (date_source "file") is when it was copied, not
# when it was taken: it never groups photos into a burst, names a dated folder or places a photo on
# the timeline (those photos are "undated"). `Photo.captured_at` in Python, CAPTURED_SQL in SQL (the
# timeline's index and month counts, migrations.py v12), one rule.
FILE_DATE = "file"
CAPTURED_SQL = "(CASE WHEN {r}date_source IS NOT 'file' THEN {r}taken_at END)"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def vec_to_blob(v) -> bytes:
    return np.asarray(v, dtype="<f4").tobytes()


def blob_to_vec(b: bytes | None) -> np.ndarray | None:
    if b is None:
        return None
    return np.frombuffer(b, dtype="<f4")


class JSONField(TextField):
    def db_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(Model):
    class Meta:
        database = database


class Photo(BaseModel):
    STATUSES = ("inbox", "suggested", "filed", "skipped")
    ROOTS = ("inbox", "library", "trash")

    sha256 = CharField(max_length=64, unique=True)
    phash = CharField(max_length=16, index=True)  # 64-bit DCT perceptual hash, hex
    original_filename = CharField()
    size = IntegerField()
    mime = CharField()
    width = IntegerField()  # after EXIF orientation
    height = IntegerField()
    orientation = IntegerField(default=1)  # EXIF orientation of the stored file
    taken_at = DateTimeField(null=True, index=True)  # camera local time as written in EXIF
    camera_make = CharField(null=True)
    camera_model = CharField(null=True)
    gps_lat = FloatField(null=True)
    gps_lon = FloatField(null=True)
    status = CharField(default="inbox", index=True)
    root = CharField(default="inbox")  # "inbox", "library" or "trash" (photos/trash.py)
    path = CharField()  # relative to its root, POSIX separators
    source_device = CharField(null=True)
    created_at = DateTimeField(default=utcnow, index=True)
    # filled by the ML pipeline (schema version 2)
    caption = TextField(null=True)
    embedding = BlobField(null=True)  # CLIP image embedding, L2-normalised
    analysed_at = DateTimeField(null=True)
    analysis_error = TextField(null=True)
    suggestions = JSONField(null=True)  # latest folder suggestions [{"folder","score","reason"}]
    # schema version 6: a star (written to XMP as xmp:Rating 5) and the trash
    favourite = BooleanField(default=False, index=True)
    trashed_at = DateTimeField(null=True, index=True)  # set while the photo is in the trash
    trashed_from = JSONField(null=True)  # {"root", "path", "status"} it had: where restore puts it
    # schema version 4 (before 6 above): videos, Live Photos, where the date came from, the photographer's words
    media = CharField(default="photo", constraints=[SQL("DEFAULT 'photo'")])  # "photo" or "video"
    duration = FloatField(null=True)  # seconds, videos only
    taken_offset = CharField(null=True)  # UTC offset of taken_at ("+02:00") when the file says it
    date_source = CharField(null=True)  # where taken_at came from, e.g. "exif:DateTimeOriginal", "file"
    description = TextField(null=True)  # the photographer's own words (EXIF/IPTC/XMP), never the machine's
    live_id = CharField(null=True, index=True)  # Apple content identifier shared by a Live Photo's parts
    live_of = ForeignKeyField("self", null=True, backref="live_parts", on_delete="SET NULL")  # motion part -> still
    # the caption pass runs after analysis, so captions never delay a suggestion (schema version 8)
    captioned_at = DateTimeField(null=True)
    # schema version 5: the face passes done, 0 none, 1 fast, 2 thorough (people/passes.py)
    faces_pass = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    # schema version 11: who filed it where it is, "user" or "auto" (suggest/autofiler.py); None while not filed
    filed_by = CharField(null=True, index=True)

    @property
    def folder(self) -> str | None:
        """Library folder (relative) the photo is filed in, or None while it is in the inbox."""
        if self.root != "library":
            return None
        parent = str(Path(self.path).parent.as_posix())
        return "" if parent == "." else parent

    @property
    def captured_at(self) -> dt.datetime | None:
        """taken_at when the file's metadata says it (CAPTURED_SQL), None for an undated photo."""
        return None if self.date_source == FILE_DATE else self.taken_at

    @property
    def is_video(self) -> bool:
        return self.media == "video"

    @classmethod
    def by_sha(cls, sha: str):
        return cls.get_or_none(cls.sha256 == sha)

    @classmethod
    def get_or_404(cls, photo_id) -> Photo:
        """The photo with this id; NotFound (HTTP 404) if there is none."""
        try:
            photo = cls.get_or_none(cls.id == int(photo_id))
        except (TypeError, ValueError):
            photo = None
        if photo is None:
            raise NotFound(f"no photo {photo_id}")
        return photo

    @classmethod
    def lookup(cls, ref) -> Photo:
        """A photo by numeric id or by sha256 (a prefix of at least 8 hex characters), as the CLI takes it.

        NotFound if none matches; InvalidInput if a prefix matches several photos.
        """
        ref = str(ref).strip()
        if ref.isdigit():
            photo = cls.get_or_none(cls.id == int(ref))
            if photo is not None:
                return photo
        prefix = ref.lower()
        if len(prefix) >= 8 and all(c in "0123456789abcdef" for c in prefix):
            rows = list(cls.select().where(cls.sha256.startswith(prefix)).limit(2))
            if len(rows) == 1:
                return rows[0]
            if len(rows) > 1:
                raise InvalidInput(f"{ref!r} matches several photos; give more of the sha256")
        raise NotFound(f"no photo {ref!r}")

    @classmethod
    def live(cls):
        """Photos not in the trash: what every listing, search and count shows. Nearly every photo is
        live, so the term keeps off trashed_at's index (`+trashed_at`, an index for finding the
        trash): SQLite then reads through the index that orders or narrows the query (photo_when...)."""
        return cls.select().where(NodeList((SQL("+"), cls.trashed_at), glue="").is_null())

    @classmethod
    def pending(cls):
        """Photos waiting for analysis: neither analysed nor failed (the worker's queue), oldest id first."""
        return cls.select().where(cls.analysed_at.is_null(), cls.analysis_error.is_null()).order_by(cls.id)

    @classmethod
    def caption_pending(cls):
        """Analysed photos waiting for the caption pass (the worker's second queue), oldest id first."""
        return (cls.select().where(cls.analysed_at.is_null(False), cls.analysis_error.is_null(),
                                   cls.captioned_at.is_null()).order_by(cls.id))


class Folder(BaseModel):
    path = CharField(unique=True)  # relative to the library root, POSIX separators
    created_at = DateTimeField(default=utcnow)


class Tag(BaseModel):
    name = CharField(unique=True)

    @classmethod
    def find(cls, name: str) -> Tag | None:
        """The tag spelled `name` in any case (casefold), or None."""
        return cls.get_or_none(fn.casefold(cls.name) == name.strip().casefold())

    @classmethod
    def named(cls, name: str) -> Tag:
        """The tag spelled `name` in any case, created with this spelling if new (the first one is kept).

        Names from users are checked by photos.tags.tag_named, which every tag write goes through.
        """
        name = name.strip()
        tag = cls.find(name)
        return tag if tag is not None else cls.create(name=name)


class PhotoTag(BaseModel):
    SOURCES = ("clip", "blip", "face", "user", "xmp")

    photo = ForeignKeyField(Photo, backref="tags", on_delete="CASCADE")
    tag = ForeignKeyField(Tag, backref="photos", on_delete="CASCADE")
    source = CharField(default="user")
    score = FloatField(default=1.0)
    removed = BooleanField(default=False)  # the user removed it: auto-taggers must not add it back

    class Meta:
        indexes = ((("photo", "tag"), True),)

    @classmethod
    def visible(cls, *fields):
        """PhotoTag joined to Tag, without the tags the user removed; `fields` as in select()
        (default: PhotoTag and Tag, so `.tag.name` costs no query)."""
        return cls.select(*(fields or (cls, Tag))).join(Tag).where(cls.removed == False)  # noqa: E712


class Person(BaseModel):
    name = CharField(unique=True)
    created_at = DateTimeField(default=utcnow)
    hidden = BooleanField(default=False, constraints=[SQL("DEFAULT 0")])  # a stranger the user hid: matched, never shown or tagged
    cover_face = IntegerField(null=True)  # the face the user chose for the person's tile


class FaceEncoding(BaseModel):
    """A known 128-d encoding of a person (imported .npy, enrolled photo, or confirmed face)."""

    person = ForeignKeyField(Person, backref="encodings", on_delete="CASCADE")
    encoding = BlobField()
    origin = CharField()  # e.g. "npy:Amy_H_64144.npy", "enroll:Pictures/Amy H/1.jpg", "face:12"
    created_at = DateTimeField(default=utcnow)


class Face(BaseModel):
    photo = ForeignKeyField(Photo, backref="faces", on_delete="CASCADE")
    x = FloatField()
    y = FloatField()
    w = FloatField()
    h = FloatField()
    encoding = BlobField()
    person = ForeignKeyField(Person, backref="faces", null=True, on_delete="SET NULL")
    distance = FloatField(null=True)
    confirmed = BooleanField(default=False)
    cluster = IntegerField(null=True, index=True)  # unknown-face cluster id
    not_face = BooleanField(default=False, constraints=[SQL("DEFAULT 0")])  # the user said this is not a face: kept so it is never found again


class FaceRejection(BaseModel):
    """The user said this face is not this person: never suggest the pair again."""

    face = ForeignKeyField(Face, backref="rejections", on_delete="CASCADE")
    person = ForeignKeyField(Person, on_delete="CASCADE")

    class Meta:
        indexes = ((("face", "person"), True),)


class Region(BaseModel):
    photo = ForeignKeyField(Photo, backref="regions", on_delete="CASCADE")
    x = FloatField()
    y = FloatField()
    w = FloatField()
    h = FloatField()
    label = CharField(default="", index=True)
    embedding = BlobField(null=True)
    source = CharField(default="user")
    created_at = DateTimeField(default=utcnow)


class Decision(BaseModel):
    """The learning log and the undo history: one row per filing action."""

    ACTIONS = ("accept", "fix", "skip", "file", "undo", "confirm")  # confirm: an auto-filing seen and kept

    photo = ForeignKeyField(Photo, backref="decisions", on_delete="CASCADE")
    action = CharField()
    suggested = JSONField(null=True)  # [{"folder": str, "score": float, "reason": str}]
    chosen_folder = CharField(null=True)
    from_root = CharField(null=True)
    from_path = CharField(null=True)
    to_root = CharField(null=True)
    to_path = CharField(null=True)
    tags = JSONField(null=True)
    people = JSONField(null=True)
    device = CharField(null=True)
    created_at = DateTimeField(default=utcnow, index=True)
    undone = BooleanField(default=False)
    filed_by = CharField(null=True)  # schema version 11: "auto" for the auto-filer's filings, else "user" (None before)


class FolderRename(BaseModel):
    """A library folder renamed or moved: part of the learning log, so a suggester snapshot made
    before it is corrected when loaded (never offers the old name again)."""

    old = CharField()
    new = CharField()
    after_decision = IntegerField(default=0)  # the latest Decision id when it happened: log order
    created_at = DateTimeField(default=utcnow)


class PersonChange(BaseModel):
    """A person renamed, merged into another or forgotten: part of the learning log (like
    FolderRename), so the suggester, whose lessons are keyed by person id, applies it exactly once in
    every process and corrects a snapshot made before it."""

    kind = CharField()  # "rename" | "merge" | "forget"
    person = IntegerField()  # the person's id (not a foreign key: a merged or forgotten person is gone)
    into = IntegerField(null=True)  # merge: the person they became part of
    old_name = CharField(null=True)
    new_name = CharField(null=True)
    after_decision = IntegerField(default=0)  # the latest Decision id when it happened: log order
    created_at = DateTimeField(default=utcnow)


class Device(BaseModel):
    name = CharField()
    token_hash = CharField(unique=True)
    created_at = DateTimeField(default=utcnow)
    last_seen = DateTimeField(null=True)
    revoked = BooleanField(default=False)


class Job(BaseModel):
    """A background job (analysis, captions, learning the library); its progress goes to the phones
    as `job.progress` events."""

    kind = CharField()
    status = CharField(default="queued")  # queued | running | done | failed
    total = IntegerField(default=0)
    done = IntegerField(default=0)
    message = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    def publish(self) -> None:
        """Tell the phones where the job stands (`job.progress`)."""
        from . import events

        events.publish(events.JOB_PROGRESS, job_id=self.id, kind=self.kind, done=self.done, total=self.total,
                       status=self.status, message=self.message)

    def advance(self, **fields) -> None:
        """Set `fields`, save, and publish the progress."""
        for k, v in fields.items():
            setattr(self, k, v)
        self.updated_at = utcnow()
        self.save()
        self.publish()


class Upload(BaseModel):
    id = CharField(primary_key=True)
    device = CharField(null=True)
    filename = CharField()
    size = IntegerField()
    sha256 = CharField(null=True)
    offset = IntegerField(default=0)
    mime = CharField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    photo = ForeignKeyField(Photo, null=True, on_delete="SET NULL")
    error = TextField(null=True)


class ImportedFile(BaseModel):
    """A file of the user's own tree that an import catalogued, or found catalogued already: importing
    the tree again (after an interrupted import, or to pick up new photos) passes over a file unchanged
    since (same size and modification time) without reading it."""

    path = TextField(unique=True)  # absolute, as the import reached it
    size = IntegerField()
    mtime_ns = IntegerField()
    sha256 = CharField(max_length=64)


class Meta(BaseModel):
    """Key/value facts about this catalogue (schema version, server id)."""

    key = CharField(primary_key=True)
    value = TextField()


ALL_MODELS = [
    Photo, Folder, Tag, PhotoTag, Person, FaceEncoding, Face, FaceRejection, Region,
    Decision, FolderRename, PersonChange, Device, Job, Upload, ImportedFile, Meta,
]


def open_db(path: str | Path) -> SqliteDatabase:
    """Bind the catalogue at `path` and bring its schema up to date (creating it if new)."""
    from .migrations import migrate

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    database.init(str(path), pragmas=PRAGMAS, check_same_thread=False)
    database.connect(reuse_if_open=True)
    migrate(database)
    return database


def get_meta(key: str, default: str | None = None) -> str | None:
    row = Meta.get_or_none(Meta.key == key)
    return row.value if row else default


def set_meta(key: str, value: str) -> None:
    Meta.insert(key=key, value=value).on_conflict_replace().execute()
