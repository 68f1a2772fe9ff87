"""Schema versions. A new catalogue is created at the latest version; an older one is stepped forward
one version at a time inside a transaction, so a user's catalogue is never lost to an upgrade.

To change the schema: edit the model in db.py, then append a step here that brings an existing
database from the previous version to the new one (playhouse.migrate), and bump nothing else.
"""

from __future__ import annotations

from peewee import (
    BlobField, BooleanField, CharField, DateTimeField, FloatField, IntegerField, SqliteDatabase, TextField,
)
from playhouse.migrate import SqliteMigrator, migrate as run_ops

from .db import CAPTURED_SQL


def _v2_ml_columns(migrator: SqliteMigrator, db: SqliteDatabase) -> None:
    """v2: results of the ML pipeline live on the photo row."""
    cols = {c.name for c in db.get_columns("photo")}
    ops = []
    for name, field in (
        ("caption", TextField(null=True)),
        ("embedding", BlobField(null=True)),
        ("analysed_at", DateTimeField(null=True)),
        ("analysis_error", TextField(null=True)),
        ("suggestions", TextField(null=True)),
    ):
        if name not in cols:
            ops.append(migrator.add_column("photo", name, field))
    run_ops(*ops)


def _v3_folder_renames(migrator: SqliteMigrator, db: SqliteDatabase) -> None:
    """v3: folder renames are logged (the suggester's snapshots replay them)."""
    from .db import FolderRename

    if "folderrename" not in db.get_tables():
        db.create_tables([FolderRename])


def _v4_camera_roll(migrator: SqliteMigrator, db: SqliteDatabase) -> None:
    """v4: videos and Live Photos, the capture date's offset and source, the photographer's description."""
    cols = {c.name for c in db.get_columns("photo")}
    if "media" not in cols:
        # NOT NULL with a constant default is a plain ALTER in SQLite (playhouse would copy the table)
        db.execute_sql("ALTER TABLE photo ADD COLUMN media VARCHAR(255) NOT NULL DEFAULT 'photo'")
    ops = []
    for name, field in (
        ("duration", FloatField(null=True)),
        ("taken_offset", CharField(null=True)),
        ("date_source", CharField(null=True)),
        ("description", TextField(null=True)),
        ("live_id", CharField(null=True)),
        # the motion part of a Live Photo points at its still (a plain integer column: SQLite cannot
        # add a constraint to an existing table; the model declares the foreign key for new catalogues)
        ("live_of_id", IntegerField(null=True)),
    ):
        if name not in cols:
            ops.append(migrator.add_column("photo", name, field))
    run_ops(*ops)
    # create_tables(safe=True) ran before this step and, the columns missing, SQLite took the quoted
    # names for string constants: replace those indexes with real ones.
    for column in ("live_id", "live_of_id"):
        db.execute_sql(f'DROP INDEX IF EXISTS "photo_{column}"')
        db.execute_sql(f'CREATE INDEX "photo_{column}" ON photo ("{column}")')


def _v5_face_passes(migrator: SqliteMigrator, db: SqliteDatabase) -> None:
    """v5: which face pass a photo has had; hidden strangers, chosen covers, "not a face" marks."""
    for table, name, decl in (
        # NOT NULL with a constant default is a plain ALTER in SQLite (playhouse would copy the table)
        ("photo", "faces_pass", "INTEGER NOT NULL DEFAULT 0"),
        ("person", "hidden", "INTEGER NOT NULL DEFAULT 0"),
        ("person", "cover_face", "INTEGER"),
        ("face", "not_face", "INTEGER NOT NULL DEFAULT 0"),
    ):
        if table in db.get_tables() and name not in {c.name for c in db.get_columns(table)}:
            db.execute_sql(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")


def _v6_favourites_and_trash(migrator: SqliteMigrator, db: SqliteDatabase) -> None:
    """v6: a favourite star and the trash (where a trashed photo came from) on the photo row."""
    cols = {c.name for c in db.get_columns("photo")}
    ops = []
    for name, field in (
        ("favourite", BooleanField(default=False)),
        ("trashed_at", DateTimeField(null=True)),
        ("trashed_from", TextField(null=True)),
    ):
        if name not in cols:
            ops.append(migrator.add_column("photo", name, field))
    run_ops(*ops)
    indexes = {i.name for i in db.get_indexes("photo")}
    for name in ("favourite", "trashed_at"):
        if f"photo_{name}" not in indexes:
            db.execute_sql(f"CREATE INDEX photo_{name} ON photo ({name})")
def _v8_caption_pass(migrator: SqliteMigrator, db: SqliteDatabase) -> None:
    """v8: captions are a pass of their own after analysis; photos already captioned are done."""
    cols = {c.name for c in db.get_columns("photo")}
    if "captioned_at" not in cols:
        run_ops(migrator.add_column("photo", "captioned_at", DateTimeField(null=True)))
        db.execute_sql("UPDATE photo SET captioned_at = analysed_at WHERE caption IS NOT NULL "
                       "AND analysed_at IS NOT NULL")


def _v9_person_changes(migrator: SqliteMigrator, db: SqliteDatabase) -> None:
    """v9: person renames, merges and forgets are logged (the suggester keys its lessons by person id)."""
    from .db import PersonChange

    if "personchange" not in db.get_tables():
        db.create_tables([PersonChange])


# The words search matches exactly (search/exact.py), one FTS5 row per photo (rowid = photo id): its
# caption, description, file name, library folder, visible tag names and people's names. unicode61
# folds case (diacritics kept, "_" part of a word, as Python's \w reads it); triggers keep every row
# in step with each write to the photo, its tags and faces, and tag and person names.
PHOTO_TEXT = "phototext"
# a file name is also read at its "_" (v13): Landscape_3.jpg holds "landscape", immich_IMG_2682.heic
# "img 2682", as well as its whole words ("landscape_3")
_NAME = ("(CASE WHEN instr({r}.original_filename, '_') > 0 THEN {r}.original_filename || ' ' || "
         "replace({r}.original_filename, '_', ' ') ELSE {r}.original_filename END)")
_FOLDER = "CASE WHEN {r}.root = 'library' AND instr({r}.path, '/') > 0 THEN rtrim({r}.path, replace({r}.path, '/', '')) ELSE '' END"
_TAGS = ("(SELECT group_concat(t.name, ' | ') FROM phototag pt JOIN tag t ON t.id = pt.tag_id"
         " WHERE pt.photo_id = {p} AND pt.removed = 0)")
_PEOPLE = ("(SELECT group_concat(n.name, ' | ') FROM face f JOIN person n ON n.id = f.person_id"
           " WHERE f.photo_id = {p})")
PHOTO_TEXT_SQL = [
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS {PHOTO_TEXT} USING fts5(caption, description, filename, folder,
        tags, people, tokenize="unicode61 remove_diacritics 0 tokenchars '_'")""",
    f"""CREATE TRIGGER IF NOT EXISTS phototext_photo_insert AFTER INSERT ON photo BEGIN
        INSERT INTO {PHOTO_TEXT} (rowid, caption, description, filename, folder, tags, people)
        VALUES (new.id, new.caption, new.description, {_NAME.format(r="new")}, {_FOLDER.format(r="new")},
                {_TAGS.format(p="new.id")}, {_PEOPLE.format(p="new.id")}); END""",
    f"""CREATE TRIGGER IF NOT EXISTS phototext_photo_update AFTER UPDATE OF caption, description,
        original_filename, path, root ON photo
        WHEN new.caption IS NOT old.caption OR new.description IS NOT old.description
          OR new.original_filename IS NOT old.original_filename OR new.path IS NOT old.path
          OR new.root IS NOT old.root BEGIN
        UPDATE {PHOTO_TEXT} SET caption = new.caption, description = new.description,
            filename = {_NAME.format(r="new")}, folder = {_FOLDER.format(r="new")} WHERE rowid = new.id; END""",
    f"""CREATE TRIGGER IF NOT EXISTS phototext_photo_delete AFTER DELETE ON photo BEGIN
        DELETE FROM {PHOTO_TEXT} WHERE rowid = old.id; END""",
    f"""CREATE TRIGGER IF NOT EXISTS phototext_tag_insert AFTER INSERT ON phototag BEGIN
        UPDATE {PHOTO_TEXT} SET tags = {_TAGS.format(p="new.photo_id")} WHERE rowid = new.photo_id; END""",
    f"""CREATE TRIGGER IF NOT EXISTS phototext_tag_update AFTER UPDATE OF photo_id, tag_id, removed ON phototag
        WHEN new.photo_id IS NOT old.photo_id OR new.tag_id IS NOT old.tag_id OR new.removed IS NOT old.removed
        BEGIN
        UPDATE {PHOTO_TEXT} SET tags = {_TAGS.format(p="new.photo_id")} WHERE rowid = new.photo_id;
        UPDATE {PHOTO_TEXT} SET tags = {_TAGS.format(p="old.photo_id")}
            WHERE rowid = old.photo_id AND old.photo_id IS NOT new.photo_id; END""",
    f"""CREATE TRIGGER IF NOT EXISTS phototext_tag_delete AFTER DELETE ON phototag BEGIN
        UPDATE {PHOTO_TEXT} SET tags = {_TAGS.format(p="old.photo_id")} WHERE rowid = old.photo_id; END""",
    f"""CREATE TRIGGER IF NOT EXISTS phototext_tag_rename AFTER UPDATE OF name ON tag
        WHEN new.name IS NOT old.name BEGIN
        UPDATE {PHOTO_TEXT} SET tags = {_TAGS.format(p=PHOTO_TEXT + ".rowid")}
            WHERE rowid IN (SELECT photo_id FROM phototag WHERE tag_id = new.id); END""",
    f"""CREATE TRIGGER IF NOT EXISTS phototext_face_insert AFTER INSERT ON face
        WHEN new.person_id IS NOT NULL BEGIN
        UPDATE {PHOTO_TEXT} SET people = {_PEOPLE.format(p="new.photo_id")} WHERE rowid = new.photo_id; END""",
    f"""CREATE TRIGGER IF NOT EXISTS phototext_face_update AFTER UPDATE OF person_id, photo_id ON face
        WHEN new.person_id IS NOT old.person_id OR new.photo_id IS NOT old.photo_id BEGIN
        UPDATE {PHOTO_TEXT} SET people = {_PEOPLE.format(p="new.photo_id")} WHERE rowid = new.photo_id;
        UPDATE {PHOTO_TEXT} SET people = {_PEOPLE.format(p="old.photo_id")}
            WHERE rowid = old.photo_id AND old.photo_id IS NOT new.photo_id; END""",
    f"""CREATE TRIGGER IF NOT EXISTS phototext_face_delete AFTER DELETE ON face
        WHEN old.person_id IS NOT NULL BEGIN
        UPDATE {PHOTO_TEXT} SET people = {_PEOPLE.format(p="old.photo_id")} WHERE rowid = old.photo_id; END""",
    f"""CREATE TRIGGER IF NOT EXISTS phototext_person_rename AFTER UPDATE OF name ON person
        WHEN new.name IS NOT old.name BEGIN
        UPDATE {PHOTO_TEXT} SET people = {_PEOPLE.format(p=PHOTO_TEXT + ".rowid")}
            WHERE rowid IN (SELECT photo_id FROM face WHERE person_id = new.id); END""",
]
# Indexes the screens read through at 100k photos: photos not in the trash by date (the timeline,
# newest-first results, the map), a library folder's photos (a path range), tag and people counts.
BROWSE_INDEXES = [
    "CREATE INDEX IF NOT EXISTS photo_when ON photo (COALESCE(taken_at, created_at), id, trashed_at)",
    # with the liveness columns, so a folder's photos are filtered off the index alone
    "CREATE INDEX IF NOT EXISTS photo_root_path ON photo (root, path, trashed_at, live_of_id)",
    # the map's markers, read off the index alone
    "CREATE INDEX IF NOT EXISTS photo_place ON photo (COALESCE(taken_at, created_at), id, gps_lat, gps_lon, taken_at,"
    " original_filename, trashed_at) WHERE gps_lat IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS phototag_tag_removed ON phototag (tag_id, removed)",
    "CREATE INDEX IF NOT EXISTS face_person_photo ON face (person_id, photo_id)",
    "CREATE INDEX IF NOT EXISTS face_cover ON face (person_id, confirmed DESC, COALESCE(distance, 0.0), id)",
]

# The timeline's months: how many photos not in the trash each month has, kept by triggers (the
# headers and scrubber are read on every visit; counting 100k rows each time costs a second). The
# month is the capture date's (db.CAPTURED_SQL); photos without one are counted under UNDATED.
UNDATED = "undated"
_MONTH = f"COALESCE(substr({CAPTURED_SQL}, 1, 7), '{UNDATED}')"
_ADD = ("INSERT INTO photomonth (month, n) VALUES ({m}, 1) ON CONFLICT (month) DO UPDATE SET n = n + 1;")
_SUB = "UPDATE photomonth SET n = n - 1 WHERE month = {m}; DELETE FROM photomonth WHERE n <= 0;"
_MONTH_TRIGGERS = ("photomonth_insert", "photomonth_delete", "photomonth_leave", "photomonth_enter")
PHOTO_MONTH_SQL = [
    "CREATE TABLE IF NOT EXISTS photomonth (month TEXT PRIMARY KEY, n INTEGER NOT NULL)",
    f"""CREATE TRIGGER IF NOT EXISTS photomonth_insert AFTER INSERT ON photo WHEN new.trashed_at IS NULL BEGIN
        {_ADD.format(m=_MONTH.format(r="new."))} END""",
    f"""CREATE TRIGGER IF NOT EXISTS photomonth_delete AFTER DELETE ON photo WHEN old.trashed_at IS NULL BEGIN
        {_SUB.format(m=_MONTH.format(r="old."))} END""",
    f"""CREATE TRIGGER IF NOT EXISTS photomonth_leave AFTER UPDATE OF taken_at, date_source, trashed_at ON photo
        WHEN old.trashed_at IS NULL AND (new.trashed_at IS NOT NULL OR {_MONTH.format(r="new.")} IS NOT
             {_MONTH.format(r="old.")}) BEGIN {_SUB.format(m=_MONTH.format(r="old."))} END""",
    f"""CREATE TRIGGER IF NOT EXISTS photomonth_enter AFTER UPDATE OF taken_at, date_source, trashed_at ON photo
        WHEN new.trashed_at IS NULL AND (old.trashed_at IS NOT NULL OR {_MONTH.format(r="new.")} IS NOT
             {_MONTH.format(r="old.")}) BEGIN {_ADD.format(m=_MONTH.format(r="new."))} END""",
]
# The timeline's order: capture date, newest first, then the undated photos, newest id first.
CAPTURED_INDEX = f"CREATE INDEX IF NOT EXISTS photo_captured ON photo ({CAPTURED_SQL.format(r='')}, id, trashed_at)"

# The folder tree's counts: photos in each library folder ("" the library's top), kept the same way.
_DIR = "rtrim(rtrim({r}.path, replace({r}.path, '/', '')), '/')"
_FADD = "INSERT INTO photofolder (folder, n) VALUES ({m}, 1) ON CONFLICT (folder) DO UPDATE SET n = n + 1;"
_FSUB = "UPDATE photofolder SET n = n - 1 WHERE folder = {m}; DELETE FROM photofolder WHERE n <= 0;"
PHOTO_FOLDER_SQL = [
    "CREATE TABLE IF NOT EXISTS photofolder (folder TEXT PRIMARY KEY, n INTEGER NOT NULL)",
    f"""CREATE TRIGGER IF NOT EXISTS photofolder_insert AFTER INSERT ON photo WHEN new.root = 'library' BEGIN
        {_FADD.format(m=_DIR.format(r="new"))} END""",
    f"""CREATE TRIGGER IF NOT EXISTS photofolder_delete AFTER DELETE ON photo WHEN old.root = 'library' BEGIN
        {_FSUB.format(m=_DIR.format(r="old"))} END""",
    f"""CREATE TRIGGER IF NOT EXISTS photofolder_leave AFTER UPDATE OF root, path ON photo
        WHEN old.root = 'library' AND (new.root IS NOT 'library' OR {_DIR.format(r="new")} IS NOT
             {_DIR.format(r="old")}) BEGIN {_FSUB.format(m=_DIR.format(r="old"))} END""",
    f"""CREATE TRIGGER IF NOT EXISTS photofolder_enter AFTER UPDATE OF root, path ON photo
        WHEN new.root = 'library' AND (old.root IS NOT 'library' OR {_DIR.format(r="new")} IS NOT
             {_DIR.format(r="old")}) BEGIN {_FADD.format(m=_DIR.format(r="new"))} END""",
]


def fill_photo_folder(db: SqliteDatabase) -> None:
    """(Re)count the photos of every library folder from the catalogue."""
    db.execute_sql("DELETE FROM photofolder")
    db.execute_sql(f"INSERT INTO photofolder (folder, n) SELECT {_DIR.format(r='photo')}, COUNT(*) FROM photo "
                   "WHERE root = 'library' GROUP BY 1")


def fill_photo_month(db: SqliteDatabase) -> None:
    """(Re)count the timeline's months from the catalogue."""
    db.execute_sql("DELETE FROM photomonth")
    db.execute_sql(f"INSERT INTO photomonth (month, n) SELECT {_MONTH.format(r='')}, COUNT(*) FROM photo "
                   "WHERE trashed_at IS NULL GROUP BY 1")


def fill_photo_text(db: SqliteDatabase) -> None:
    """(Re)write every photo's row of the exact-match index from the catalogue."""
    db.execute_sql(f"DELETE FROM {PHOTO_TEXT}")
    db.execute_sql(
        f"INSERT INTO {PHOTO_TEXT} (rowid, caption, description, filename, folder, tags, people) "
        f"SELECT p.id, p.caption, p.description, {_NAME.format(r='p')}, {_FOLDER.format(r='p')}, "
        f"{_TAGS.format(p='p.id')}, {_PEOPLE.format(p='p.id')} FROM photo p")


def _v10_search_index(migrator: SqliteMigrator, db: SqliteDatabase) -> None:
    """v10: the exact-match words in an FTS5 index, the timeline's month counts and the folder tree's
    counts, kept in step by triggers; indexes for browsing."""
    tables = db.get_tables()
    for sql in PHOTO_TEXT_SQL + PHOTO_MONTH_SQL + PHOTO_FOLDER_SQL + BROWSE_INDEXES:
        db.execute_sql(sql)
    if PHOTO_TEXT not in tables:
        fill_photo_text(db)
    if "photomonth" not in tables:
        fill_photo_month(db)
    if "photofolder" not in tables:
        fill_photo_folder(db)


def _v11_filed_by(migrator: SqliteMigrator, db: SqliteDatabase) -> None:
    """v11: who filed a photo ("user" or "auto", the auto-filer) on the photo and on each decision;
    photos filed by a decision before were filed by the user."""
    for table in ("photo", "decision"):
        if "filed_by" not in {c.name for c in db.get_columns(table)}:
            run_ops(migrator.add_column(table, "filed_by", CharField(null=True)))
    db.execute_sql("UPDATE photo SET filed_by = 'user' WHERE root = 'library' AND filed_by IS NULL AND id IN "
                   "(SELECT photo_id FROM decision WHERE undone = 0 AND action IN ('accept', 'fix', 'file'))")
    db.execute_sql('DROP INDEX IF EXISTS "photo_filed_by"')  # see _v4: made before the column existed
    db.execute_sql('CREATE INDEX "photo_filed_by" ON photo ("filed_by")')


def _v12_capture_dates(migrator: SqliteMigrator, db: SqliteDatabase) -> None:
    """v12: the timeline orders and counts photos by capture date (db.CAPTURED_SQL): a date from the
    file's modification time is none, those photos are undated."""
    for name in _MONTH_TRIGGERS:
        db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
    for sql in PHOTO_MONTH_SQL + [CAPTURED_INDEX]:
        db.execute_sql(sql)
    fill_photo_month(db)


def _v13_file_name_words(migrator: SqliteMigrator, db: SqliteDatabase) -> None:
    """v13: the exact-match index reads a file name at its "_" too (_NAME): its triggers anew, its rows
    rewritten."""
    for name in ("phototext_photo_insert", "phototext_photo_update"):
        db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
    for sql in PHOTO_TEXT_SQL:
        db.execute_sql(sql)
    fill_photo_text(db)


# (version, step) in order; version 1 is the foundation schema.
STEPS = [
    (2, _v2_ml_columns),
    (3, _v3_folder_renames),
    (4, _v4_camera_roll),
    (5, _v5_face_passes),
    (6, _v6_favourites_and_trash),
    (8, _v8_caption_pass),
    (9, _v9_person_changes),
    (10, _v10_search_index),
    (11, _v11_filed_by),
    (12, _v12_capture_dates),
    (13, _v13_file_name_words),
]
LATEST = 1 if not STEPS else STEPS[-1][0]


def schema_version(db: SqliteDatabase) -> int:
    if "meta" not in db.get_tables():
        return 0
    row = db.execute_sql("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(db: SqliteDatabase) -> int:
    """Create or upgrade the schema; returns the version now in force."""
    from .db import ALL_MODELS, Meta

    version = schema_version(db)
    if version > LATEST:
        raise RuntimeError(
            f"catalogue schema version {version} is newer than this Jaicat ({LATEST}); upgrade Jaicat"
        )
    with db.atomic():
        if version == 0:
            # A brand-new catalogue (or one from before versioning): create everything current.
            db.create_tables(ALL_MODELS, safe=True)
            if "photo" in db.get_tables():
                for _v, step in STEPS:
                    step(SqliteMigrator(db), db)
            version = LATEST
        else:
            # Tables added by later versions, and only those: create_tables on an existing table would
            # also create the model's new indexes before the steps add their columns, and SQLite takes
            # a quoted unknown column for a string constant: an index that the step's first UPDATE of
            # that column finds inconsistent ("database disk image is malformed").
            db.create_tables([m for m in ALL_MODELS if not m.table_exists()])
            migrator = SqliteMigrator(db)
            for v, step in STEPS:
                if v > version:
                    step(migrator, db)
                    version = v
        Meta.insert(key="schema_version", value=str(version)).on_conflict_replace().execute()
    return version
