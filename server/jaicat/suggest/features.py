"""Feature records and feature columns: the plain shape the suggestion engine learns from and predicts
for, and the columns it turns a record into (what the reasons explain).

The same shape is one line of an evaluation history (`jaicat suggest eval`), so the live server and the
evaluation share one engine. `parse_record` is liberal in what it accepts (unknown keys ignored,
missing optional keys mean null, a tag list means score 1.0) and strict where a value cannot be used.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..errors import InvalidInput

TOKEN_GROUPS = ("tags", "people", "words", "meta", "date")
# (feature column, signal group, initial weight). Initial weights only matter for the first few dozen decisions.
FEATURES = (
    ("prior", "prior", 1.0),
    ("recent", "recent", 0.7),
    ("tags", "tags", 1.0),
    ("people", "people", 1.0),
    ("words", "words", 0.5),
    ("meta", "meta", 0.5),
    ("date", "date", 0.5),
    ("time_10min", "time", 1.5),
    ("time_3h", "time", 1.0),
    ("time_2d", "time", 0.5),
    ("embed_knn", "embedding", 1.0),
    ("embed_rel", "embedding", 0.5),
    ("embed_centroid", "embedding", 5.0),
    ("gps_500m", "gps", 1.0),
    ("gps_20km", "gps", 0.3),
    ("name", "name", 1.0),
    ("name_date", "name", 1.5),
    ("name_date_conflict", "name", -2.0),
)
SIGNALS = tuple(dict.fromkeys(g for _, g, _ in FEATURES))


class Evidence(NamedTuple):
    """One photo's feature columns over the candidate folders, and the raw evidence behind them."""

    candidates: np.ndarray  # folder indices
    X: np.ndarray  # (candidates, FEATURES), masked to the engine's signals
    detail: dict  # "tokens" per group; per signal: "time" (gaps, folders), "embedding", "gps"


def camera_label(make: str | None, model: str | None) -> str | None:
    """The one name of a camera: the model when it already starts with the make's first word
    ("Canon EOS 5D" for Canon / Canon EOS 5D), else "make model"; None without either."""
    make, model = (make or "").strip(), (model or "").strip()
    if model and make and model.lower().startswith(make.lower().split()[0]):
        return model
    return " ".join(x for x in (make, model) if x) or None

_WORD = re.compile(r"[a-z][a-z']+")
_SPLIT = re.compile(r"[\s/\\\-_.,&+()\[\]{}#:;!?\"]+")
STOPWORDS = frozenset(
    """a an the of and or with in on at to for from by is are was were be this that these those it its
    there their some two three four five several many image photo picture close up closeup view shot
    front back next near over under into onto out inside outside top bottom side while his her
    him she he they them man woman person people""".split()
)
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")
_YMD = re.compile(r"(?<!\d)((?:19|20)\d\d)[-_./ ]?(0[1-9]|1[0-2])(?:[-_./ ]?(0[1-9]|[12]\d|3[01]))?(?!\d)")
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
            ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
            ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ]
    )
    for m in names
}


@dataclass
class PhotoFeatures:
    """What the engine knows about one photo. `ts` is seconds (naive times read as UTC)."""

    id: str
    ts: float | None = None
    local: tuple | None = None  # (year, month, day, hour, weekday) as written by the camera
    tags: dict = field(default_factory=dict)  # tag -> score in [0, 1]
    people: list = field(default_factory=list)  # names (what reasons say, what folder names match)
    person_ids: list = field(default_factory=list)  # catalogue ids, parallel to `people`; [] outside it
    caption: str | None = None
    camera: str | None = None
    gps: tuple | None = None  # (lat, lon) degrees
    embedding: np.ndarray | None = None  # float32, L2-normalised

    @classmethod
    def build(cls, id, taken_at=None, tags=None, people=None, caption=None, camera=None, gps=None,
              embedding=None, person_ids=None) -> PhotoFeatures:
        """Make a record from Python values (datetime or ISO string, dict or list of tags, ...).
        `person_ids`: the catalogue ids of `people` (same order), which the engine's lessons are keyed by."""
        when = _parse_time(taken_at)
        rec = cls(id=str(id))
        if when is not None:
            naive = when.replace(tzinfo=None)
            aware = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
            rec.ts = aware.timestamp()
            rec.local = (naive.year, naive.month, naive.day, naive.hour, naive.weekday())
        rec.tags = _parse_tags(tags)
        rec.people = _parse_people(people)
        if person_ids is not None:
            if len(person_ids) != len(rec.people):
                raise ValueError("one person id per person name")
            rec.person_ids = [int(i) for i in person_ids]
        rec.caption = (str(caption).strip() or None) if caption is not None else None
        if isinstance(camera, dict):  # {"make": .., "model": ..}
            camera = camera_label(str(camera.get("make") or ""), str(camera.get("model") or ""))
        rec.camera = (str(camera).strip() or None) if camera is not None else None
        rec.gps = _parse_gps(gps)
        rec.embedding = _parse_embedding(embedding)
        return rec

    def caption_words(self) -> list[str]:
        if not self.caption:
            return []
        seen = []
        for w in _WORD.findall(self.caption.lower()):
            w = singular(w.strip("'"))
            if len(w) >= 3 and w not in STOPWORDS and w not in seen:
                seen.append(w)
        return seen


@functools.lru_cache(maxsize=1 << 16)
def singular(word: str) -> str:
    """Crude English singular so 'Receipts' matches 'receipt' and 'dogs' matches 'dog'."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _parse_time(value) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str) and re.fullmatch(r"\d{9,}(\.\d+)?", value.strip()):
        value = float(value)  # epoch seconds (or milliseconds) written as a string
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        secs = float(value) / 1000.0 if abs(float(value)) > 1e11 else float(value)  # ms epochs
        try:
            return dt.datetime.fromtimestamp(secs, dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"taken_at is not a usable time: {value!r}") from None
    if isinstance(value, str):
        s = value.strip()
        # EXIF style "2024:07:15 10:20:30"
        if re.match(r"^\d{4}:\d\d:\d\d", s):
            s = s[:10].replace(":", "-") + s[10:]
        if s.endswith("Z") or s.endswith("z"):
            s = s[:-1] + "+00:00"
        try:
            return dt.datetime.fromisoformat(s)
        except ValueError:
            raise ValueError(f"taken_at is not an ISO-8601 date/time: {value!r}") from None
    raise ValueError(f"taken_at must be an ISO-8601 string or null, not {type(value).__name__}")


def _parse_tags(value) -> dict:
    if value is None:
        return {}
    if isinstance(value, str):
        value = [value]
    if isinstance(value, (list, tuple)):
        items = []
        for v in value:
            if isinstance(v, dict):  # [{"name"/"tag": .., "score": ..}]
                name = v.get("name", v.get("tag", v.get("label")))
                items.append((name, v.get("score", v.get("confidence", 1.0))))
            else:
                items.append((v, 1.0))
    elif isinstance(value, dict):
        items = list(value.items())
    else:
        raise ValueError(f"tags must be an object {{tag: score}} or a list, not {type(value).__name__}")
    out: dict = {}
    for name, score in items:
        if not isinstance(name, str) or not name.strip():
            continue
        if score is None or isinstance(score, bool):
            score = 1.0
        if not isinstance(score, (int, float)):
            raise ValueError(f"tag {name!r} has a non-numeric score {score!r}")
        if not math.isfinite(score):
            raise ValueError(f"tag {name!r} has a non-finite score")
        key = " ".join(name.strip().lower().split())
        out[key] = max(out.get(key, 0.0), float(score))
    top = max(out.values(), default=0.0)
    if top > 1.0:  # percentages or logits: bring to [0, 1] keeping the order
        out = {k: v / top for k, v in out.items()}
    return {k: v for k, v in out.items() if v > 0}


def _parse_people(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"people must be a list of names, not {type(value).__name__}")
    out = []
    for v in value:
        if isinstance(v, dict):
            v = v.get("name")
        if isinstance(v, str) and v.strip() and v.strip() not in out:
            out.append(" ".join(v.split()))
    return out


def _parse_gps(value) -> tuple | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = (value.get("lat", value.get("latitude")), value.get("lon", value.get("lng", value.get("longitude"))))
    if isinstance(value, str):  # "48.85, 2.35"
        try:
            value = [float(x) for x in value.replace(";", ",").split(",")]
        except ValueError:
            raise ValueError(f"gps must be [lat, lon] or null, not {value!r}") from None
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        raise ValueError("gps must be [lat, lon] or null")
    lat, lon = value[0], value[1]
    if lat is None or lon is None:
        return None
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (lat, lon)):
        raise ValueError("gps must be two numbers [lat, lon]")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"gps out of range: {[lat, lon]}")
    if lat == 0 and lon == 0:  # the classic "no fix" value of broken EXIF writers
        return None
    return (float(lat), float(lon))


def _parse_embedding(value) -> np.ndarray | None:
    if value is None:
        return None
    try:
        v = np.asarray(value, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError("embedding must be a list of numbers or null") from None
    if v.size == 0:
        return None
    if not np.all(np.isfinite(v)):
        raise ValueError("embedding has non-finite values")
    n = float(np.linalg.norm(v))
    if n == 0:
        return None
    return v / n


def normalise_folder(folder) -> str:
    """Relative POSIX folder path without leading/trailing slashes or empty segments."""
    if not isinstance(folder, str):
        raise ValueError(f"folder must be a string, not {type(folder).__name__}")
    parts = [p.strip() for p in folder.replace("\\", "/").split("/")]
    return "/".join(p for p in parts if p and p != ".")


def parse_record(obj, where: str = "") -> tuple[PhotoFeatures, str | None]:
    """One history object -> (features, folder). Raises InvalidInput naming `where` on bad input."""
    prefix = f"{where}: " if where else ""
    if not isinstance(obj, dict):
        raise InvalidInput(f"{prefix}expected a JSON object, got {type(obj).__name__}")
    try:
        rid = obj.get("id")
        if rid is None:
            rid = where or "?"
        elif not isinstance(rid, (str, int)) or isinstance(rid, bool):
            raise ValueError("id must be a string")
        rec = PhotoFeatures.build(
            rid, obj.get("taken_at"), obj.get("tags"), obj.get("people"), obj.get("caption"),
            obj.get("camera"), obj.get("gps"), obj.get("embedding"),
        )
        folder = obj.get("folder")
        if folder is not None:
            folder = normalise_folder(folder)
    except ValueError as e:
        raise InvalidInput(f"{prefix}{e}") from None
    return rec, folder


# --- folder names ---------------------------------------------------------------------------------
def folder_name_tokens(path: str) -> set[str]:
    """Words of a folder path that can match photo tags/people/caption words ('Pets/Rex' -> pet, rex)."""
    out = set()
    for part in _SPLIT.split(path.lower()):
        part = part.strip("'")
        if len(part) >= 3 and not part.isdigit() and part not in STOPWORDS and part not in _MONTHS:
            out.add(singular(part))
    return out


def folder_date(path: str) -> tuple | None:
    """(year, month or None, day or None) named by a folder path: '2024/07 Paris', 'July 2024', '2024-07-15'.

    The most specific date in the path wins; a path that names no year has no date.
    """
    p = path.lower()
    best = None
    for m in _YMD.finditer(p.replace("/", "-")):
        y, mo, d = int(m.group(1)), int(m.group(2)), m.group(3)
        cand = (y, mo, int(d) if d else None)
        if best is None or sum(x is not None for x in cand) > sum(x is not None for x in best):
            best = cand
    if best is not None:
        return best
    years = _YEAR.findall(p)
    if not years:
        return None
    year = int(years[-1])
    month = None
    for word in _SPLIT.split(p):
        if word in _MONTHS:
            month = _MONTHS[word]
    return (year, month, None)
