"""New-folder names in the household's own style: when a waiting photo starts a new event, propose the
folder it would get if the household named it, e.g. `Events/2024-07-02 Beach` when the event folders
look like `Events/2023-08-14 Camping`, `Events/2024-05-10 Paris`.

The pattern is learned from the folder names the engine knows (pattern_of): each folder's last part is
split into a date (YYYY-MM-DD, YYYY_MM_DD, YYYYMMDD, YYYY-MM, month names, a bare year...) and the
text around it; the parent path keeps its fixed parts and its year (`2024/2024-07 Paris` ->
`{year}/{date} {text}`). The most common shape shared by at least MIN_FOLDERS folders with different
texts (or, without text, naming at least the month) is the household's pattern.

A proposal (proposals) is made for a dated photo when no folder of the pattern has photos taken within
EVENT_GAP of it and the photo looks like an event: the engine's best folder is an older event (its date
is far from this one), or no folder scores LOW or more, or it was taken away from home (AWAY_KM) or has
an event word among its tags. Its text is, in order: for a photo taken away from home, the place name
of an earlier event there (within NEAR_KM; a text is a place name when its events were all away from
home at one place); else the text of an earlier event it clearly resembles (SIMILAR, EVIDENCE: people,
tags, look), place names aside; else its most telling tag (an event word first); else a caption word;
else the people in it. Its date is the first day of its event among the photos waiting with it
(event_start). bench/folder_names.py measures how often the name is taken unchanged.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from .features import STOPWORDS, FEATURES, Evidence, PhotoFeatures

MIN_FOLDERS = 2
LOW = 0.35  # below this, no existing folder fits
ALIKE = 0.6  # CLIP cosine from which two photos taken close together are of one event
NEAR_KM = 25.0  # an earlier event within this distance lends its name (a place)
WHERE_EVERY = 200  # photos with GPS learned between two looks for home and place names
AWAY_KM = 30.0  # a photo this far from home is an outing: an event, whatever folder it resembles
EVENT_GAP = 1.5 * 86400.0  # a photo this close in time to an event folder's photos belongs to it
BURST_S = 600.0  # photos captured this close together are one burst (suggest/review.py BURST)
BURST_MIN = 2  # other waiting photos in its burst make a photo the start of an event
SIMILAR = 0.7  # share of the evidence an earlier event needs to lend its name
EVIDENCE = 1.0  # and the least evidence (the engine's weighted tags, people, look, place) it needs
GENERIC_TAGS = frozenset("""person people man woman child boy girl baby face smile hand indoor outdoor sky tree
    table chair window light wall floor grass water text room building street car road day night photo
    selfie portrait group crowd""".split())
# words that name an event by themselves: a tag holding one names the folder ("christmas tree" -> Christmas)
EVENT_WORDS = ("wedding", "birthday", "christmas", "concert", "graduation", "halloween", "easter", "party",
               "hike", "camping", "festival", "carnival", "picnic", "funeral", "baptism", "ski", "marathon",
               "match", "game", "recital", "parade", "fireworks", "barbecue", "play")
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_M = "(?P<mon>" + "|".join(m for name in _MONTHS for m in (name, name[:3])) + ")"
_Y = r"(?P<y>(?:19|20)\d\d)"
# (regex, format): the most specific first; %B/%b are month names, cased as the folders write them
_DATES = [
    (re.compile(rf"(?<!\d){_Y}-(?P<m>0[1-9]|1[0-2])-(?P<d>0[1-9]|[12]\d|3[01])(?!\d)"), "%Y-%m-%d"),
    (re.compile(rf"(?<!\d){_Y}_(?P<m>0[1-9]|1[0-2])_(?P<d>0[1-9]|[12]\d|3[01])(?!\d)"), "%Y_%m_%d"),
    (re.compile(rf"(?<!\d){_Y}\.(?P<m>0[1-9]|1[0-2])\.(?P<d>0[1-9]|[12]\d|3[01])(?!\d)"), "%Y.%m.%d"),
    (re.compile(rf"(?<!\d){_Y}(?P<m>0[1-9]|1[0-2])(?P<d>0[1-9]|[12]\d|3[01])(?!\d)"), "%Y%m%d"),
    (re.compile(rf"(?<!\d){_Y}-(?P<m>0[1-9]|1[0-2])(?![\d-])"), "%Y-%m"),
    (re.compile(rf"(?<!\d){_Y}_(?P<m>0[1-9]|1[0-2])(?![\d_])"), "%Y_%m"),
    (re.compile(rf"(?<!\d){_Y}\.(?P<m>0[1-9]|1[0-2])(?![\d.])"), "%Y.%m"),
    (re.compile(rf"(?<![a-z]){_M}[a-z]*\.? {_Y}(?!\d)", re.I), "%B %Y"),
    (re.compile(rf"(?<!\d){_Y} {_M}[a-z]*(?![a-z])", re.I), "%Y %B"),
    (re.compile(rf"(?<!\d){_Y}(?!\d)"), "%Y"),
]
_SEP = " -_.,"


@dataclass(frozen=True)
class Shape:
    """How one folder is named: `parent` with "{year}" for a year segment, the leaf's date format,
    where its text goes ("before", "after" or "" for none) and the separator between them."""

    parent: str
    fmt: str
    text_at: str
    sep: str
    month_case: str = ""  # "title", "lower", "upper" or "short-title"... for %B formats


@dataclass
class Pattern:
    shape: Shape
    folders: dict  # folder index -> (text, date) of the folders named this way
    title_case: bool  # texts start with a capital

    def name(self, day: dt.date, text: str) -> str:
        s = self.shape
        date = _format_date(day, s.fmt, s.month_case)
        if s.text_at == "after":
            leaf = f"{date}{s.sep}{text}"
        elif s.text_at == "before":
            leaf = f"{text}{s.sep}{date}"
        else:
            leaf = date
        parent = s.parent.replace("{year}", str(day.year))
        return f"{parent}/{leaf}" if parent else leaf

    def texts(self) -> set:
        return {t for t, _ in self.folders.values()}


def _format_date(day: dt.date, fmt: str, month_case: str) -> str:
    if "%B" not in fmt:
        return day.strftime(fmt)
    month = _MONTHS[day.month - 1]
    if month_case.startswith("short"):
        month = month[:3]
    case = month_case.removeprefix("short-")
    month = month.lower() if case == "lower" else month.upper() if case == "upper" else month
    return fmt.replace("%B", month).replace("%Y", str(day.year))


def shape_of(path: str) -> tuple[Shape, str, tuple] | None:
    """(shape, text, (year, month|None, day|None)) of one folder path, or None without a date in its
    last part."""
    parts = path.split("/")
    leaf, parents = parts[-1], parts[:-1]
    for rx, fmt in _DATES:
        m = rx.search(leaf)
        if not m:
            continue
        g = m.groupdict()
        month = int(g["m"]) if g.get("m") else None
        case = ""
        if g.get("mon"):
            word = g["mon"]
            month = next(i for i, name in enumerate(_MONTHS, 1) if name.lower().startswith(word.lower()[:3]))
            full = m.group(0).split()[0 if fmt == "%B %Y" else 1].rstrip(".")
            if full.lower() != "may":  # May is its own short form: the other folders tell
                case = ("short-" if len(full) <= 4 and full.lower() != _MONTHS[month - 1].lower() else "") + \
                    ("lower" if full.islower() else "upper" if full.isupper() else "title")
        date = (int(g["y"]), month, int(g["d"]) if g.get("d") else None)
        before, after = leaf[: m.start()], leaf[m.end():]
        text_b, text_a = before.strip(_SEP), after.strip(_SEP)
        if text_b and text_a:
            return None  # text on both sides: not a shape we can fill in
        if text_a:
            at, text, sep = "after", text_a, after[: len(after) - len(after.lstrip(_SEP))]
        elif text_b:
            at, text, sep = "before", text_b, before[len(before.rstrip(_SEP)):]
        else:
            at, text, sep = "", "", ""
        year = str(date[0])
        parent = "/".join("{year}" if p == year else p for p in parents)
        if any(re.search(r"(?<!\d)(19|20)\d\d(?!\d)", p) for p in parent.split("/") if p != "{year}"):
            return None  # another date in the parents: not a shape we can fill in
        return Shape(parent, fmt, at, sep, case), text, date
    return None


def pattern_of(folders: list[str | None]) -> Pattern | None:
    """The household's event-folder pattern from its folder paths (index = engine folder index; None
    or "" for retired folders), or None when no shape is shared by MIN_FOLDERS folders."""
    by_shape: dict[Shape, dict] = {}
    for f, path in enumerate(folders):
        if not path:
            continue
        got = shape_of(path)
        if got is not None:
            shape, text, date = got
            by_shape.setdefault(replace(shape, month_case=""), {})[f] = (text, date, shape.month_case)
    best, best_n = None, 0
    for shape, members in by_shape.items():
        texts = Counter(t for t, _, _ in members.values())
        if shape.text_at:
            if len(texts) < MIN_FOLDERS:
                continue  # the same text every year (Receipts 2023, Receipts 2024): a topic, not events
        elif shape.fmt == "%Y" or len(members) < MIN_FOLDERS:
            continue  # a bare year without text sorts topics by year, it does not name events
        n = len(members)
        if n >= MIN_FOLDERS and n > best_n:
            best, best_n = shape, n
    if best is None:
        return None
    members = by_shape[best]
    cases = Counter(c for _, _, c in members.values() if c)
    if cases:
        best = replace(best, month_case=cases.most_common(1)[0][0])
    capitals = sum(1 for t, _, _ in members.values() if t[:1].isupper())
    return Pattern(best, {f: (t, d) for f, (t, d, _) in members.items()}, title_case=capitals * 2 >= len(members))


# --- proposing ------------------------------------------------------------------------------------
_NON_DATE = np.array([group in ("tags", "people", "words", "embedding", "gps") for _, group, _ in FEATURES])


def _non_date(weights: np.ndarray) -> np.ndarray:
    """The weights of what a photo shows (tags, people, words, look, place): the others zeroed."""
    return np.where(_NON_DATE, weights, 0.0)


def _alike(a: PhotoFeatures, b: PhotoFeatures) -> bool:
    """Two photos of one event: they look alike (CLIP), or, without embeddings, were taken at one place,
    or, without either, share a telling tag."""
    if a.embedding is not None and b.embedding is not None and a.embedding.shape == b.embedding.shape:
        return float(a.embedding @ b.embedding) >= ALIKE
    if a.gps is not None and b.gps is not None:
        dy = (a.gps[0] - b.gps[0]) * 110.57
        dx = (a.gps[1] - b.gps[1]) * 111.32 * math.cos(math.radians(a.gps[0]))
        return dx * dx + dy * dy <= 4.0
    return bool((set(a.tags) & set(b.tags)) - GENERIC_TAGS)  # neither: the same telling tag


def event_start(rec: PhotoFeatures, context: list[PhotoFeatures], gap: float = 86400.0) -> dt.date | None:
    """The first day of the photo's event among the photos waiting with it: the photos that look like
    it, taken less than `gap` seconds apart, one after the other, up to it. None without a date."""
    if rec.ts is None or rec.local is None:
        return None
    earlier = sorted((r for r in context if r is not rec and r.ts is not None and r.local is not None
                      and r.ts <= rec.ts), key=lambda r: r.ts, reverse=True)
    first = rec
    for r in earlier:  # newest first: the first one too far back ends the chain (and the older ones)
        if first.ts - r.ts > gap:
            break
        if _alike(rec, r):
            first = r
    return dt.date(*first.local[:3])


def proposals(engine, pattern: Pattern | None, recs: list[PhotoFeatures], evidence: list[Evidence],
              answers: list[list], context: list[PhotoFeatures] | None = None) -> list[dict | None]:
    """For each photo, {"folder", "score", "reason", "new": True} when it starts a new event, else None.
    `answers`: the engine's suggestions for each photo; `context`: the photos waiting with them (their
    event's first day is the date), default `recs`."""
    if pattern is None:
        return [None] * len(recs)
    context = recs if context is None else context
    lasting, page = engine.lasting_cache(), engine.page_cache()
    key = (pattern, len(engine.folders), engine.geo.n // WHERE_EVERY, engine.geo.next // WHERE_EVERY)
    if lasting.get("where", (None,))[0] != key:
        lasting["where"] = (key, _Where(engine, pattern))
    where = lasting["where"][1]
    if "known" not in page:
        page["known"] = set(engine.known_folders())
    known = page["known"]
    example = max((engine.folders[f] for f in pattern.folders), default="")  # the latest-named event folder
    return [_propose(engine, pattern, rec, ev, ans, context, known, where, example)
            for rec, ev, ans in zip(recs, evidence, answers, strict=True)]


def _km(a: tuple, b: tuple) -> float:
    dy = (a[0] - b[0]) * 110.57
    dx = (a[1] - b[1]) * 111.32 * math.cos(math.radians(a[0]))
    return math.hypot(dx, dy)


class _Where:
    """Home (where most photos with GPS were taken) and the event texts that are place names: texts of
    events away from home, always at one place (`Paris`, not `Concert` held in three cities). With,
    per engine folder: is it one of the pattern's (`member`), is its text a place name (`place`)."""

    def __init__(self, engine, pattern: Pattern):
        n = len(engine.folders)
        self.member = np.zeros(n, bool)
        self.member[list(pattern.folders)] = True
        self.place = np.zeros(n, bool)
        texts = self.texts = sorted(pattern.texts())
        self.text_id = np.full(n, -1)  # the folder's text, as an index in `texts`
        for f, (text, _date) in pattern.folders.items():
            self.text_id[f] = texts.index(text)
        self.home = None
        geo = engine.geo
        live = geo.folder[: geo.n] >= 0
        if live.sum() < 20:
            return
        lat, lon, fs = geo.lat[: geo.n][live], geo.lon[: geo.n][live], geo.folder[: geo.n][live]
        self.home = (float(np.median(lat)), float(np.median(lon)))
        inside = self.member[fs]
        order = np.argsort(fs[inside], kind="stable")
        f_sorted, lat_s, lon_s = fs[inside][order], lat[inside][order], lon[inside][order]
        bounds = np.flatnonzero(np.diff(f_sorted)) + 1
        spots: dict[str, list] = {}
        for la, lo, ff in zip(np.split(lat_s, bounds), np.split(lon_s, bounds), np.split(f_sorted, bounds),
                              strict=True):
            if ff.size:
                spots.setdefault(pattern.folders[int(ff[0])][0], []).append((float(np.median(la)),
                                                                             float(np.median(lo))))
        places = {text for text, at in spots.items()
                  if all(_km(a, self.home) > AWAY_KM for a in at) and all(_km(a, at[0]) <= NEAR_KM for a in at)}
        for f, (text, _date) in pattern.folders.items():
            self.place[f] = text in places

    def away(self, rec: PhotoFeatures) -> bool:
        return rec.gps is not None and self.home is not None and _km(rec.gps, self.home) > AWAY_KM


def _propose(engine, pattern: Pattern, rec: PhotoFeatures, ev: Evidence, answer: list, context: list,
             known: set, where: _Where, example: str):
    if rec.local is None or rec.ts is None:
        return None
    members = pattern.folders
    if engine.times.ts.size:
        _dts, fs = engine.times.window(rec.ts, EVENT_GAP)
        if where.member[fs].any():
            return None  # an event folder already has photos from these days
    best = answer[0].score if answer else 0.0
    top_is_event = bool(answer) and engine.index.get(answer[0].folder) in members
    eventful = where.away(rec) or any(w in EVENT_WORDS for tag in rec.tags for w in tag.split()) \
        or _in_burst(rec, context)
    if not top_is_event and best >= LOW and not eventful:
        return None  # an everyday photo that fits a topic folder well enough
    text, why = _text(engine, pattern, rec, ev, where)
    if pattern.shape.text_at and not text:
        return None
    folder = pattern.name(event_start(rec, context), text)
    if folder in known:
        return None  # it exists: the engine suggests it by its name and date
    reason = f"a new event: no folder has photos from these days; named like {example}"
    if why:
        reason += f", {why}"
    return {"folder": folder, "score": round(float(engine.p_new()), 4), "reason": reason, "new": True}


def _in_burst(rec: PhotoFeatures, context: list) -> bool:
    """At least BURST_MIN other photos waiting with it were captured within BURST_S of it."""
    n = sum(1 for r in context if r is not rec and r.ts is not None and abs(r.ts - rec.ts) <= BURST_S)
    return n >= BURST_MIN


def person_folders(folders: list[str], person_names: list[str]) -> tuple[str, dict[str, str]] | None:
    """(parent, {casefolded name: folder}) when the household files people in folders named after
    them: at least MIN_FOLDERS folders under one parent whose last part is a person's name. Else None."""
    names_cf = {n.casefold() for n in person_names}
    by_parent: dict[str, dict[str, str]] = {}
    for f in folders:
        parent, _, leaf = f.rpartition("/")
        if leaf.casefold() in names_cf:
            by_parent.setdefault(parent, {})[leaf.casefold()] = f
    named = {n: f for group in by_parent.values() for n, f in group.items()}
    parent = max(by_parent, key=lambda k: len(by_parent[k]), default=None)
    if parent is None or len(by_parent[parent]) < MIN_FOLDERS:
        return None
    return parent, named


def person_proposal(engine, people: tuple[str, dict[str, str]] | None, rec: PhotoFeatures,
                    known: set) -> dict | None:
    """A new folder for the first photo of a person who has none yet, named like the others
    (`Family/Cleo` beside `Family/Amy`, `Family/Ben`); None if any of its people has a folder."""
    if people is None or not rec.people or any(p.casefold() in people[1] for p in rec.people):
        return None
    parent, named = people
    name = rec.people[0]
    folder = f"{parent}/{name}" if parent else name
    if folder in known:
        return None
    example = sorted(named.values())[0]
    return {"folder": folder, "score": round(float(engine.p_new()), 4), "new": True,
            "reason": f"a new person: {name} has no folder yet; named like {example}"}


def _text(engine, pattern: Pattern, rec: PhotoFeatures, ev: Evidence, where: _Where) -> tuple[str, str]:
    """(text, why) for the new folder's name."""
    idx, X, detail = ev
    if pattern.shape.text_at and idx.size:
        away = where.away(rec)
        near = np.zeros(0, int)
        if away and "gps" in detail:  # a place name only names photos taken away from home
            d, fs = detail["gps"]
            near = np.unique(where.text_id[fs[(d <= NEAR_KM) & where.place[fs]]])
        # at home or somewhere new, an earlier event lends its text only if it is not a place's name
        if len(near):
            mine = where.place[idx] & np.isin(where.text_id[idx], near)
        else:
            mine = where.member[idx] & ~where.place[idx]
        rows = np.flatnonzero(mine)
        if rows.size:
            z = X[rows] @ _non_date(engine.weights)
            # the same text may name several earlier events (Christmas 2022, 2023): they add up
            tid = where.text_id[idx[rows]]
            by_text = np.bincount(tid, np.exp(z - z.max()))
            best = np.flatnonzero(by_text == by_text.max())
            # of texts as strong, the one of the first candidate
            t = best[0] if best.size == 1 else min(best, key=lambda i: int(np.argmax(tid == i)))
            text = where.texts[int(t)]
            if len(near):
                return text, f"taken where '{text}' was"
            if by_text[t] / by_text.sum() >= SIMILAR and z.max() > EVIDENCE:
                return text, f"like your earlier '{text}'"
    # said as what it is read from: a tag or a caption, never "what is in the photo"
    for word, source in ((_tag_word(engine, rec), "its tags"), (_caption_word(rec), "its caption")):
        if word:
            return (word.title() if pattern.title_case else word), f"'{word}' from {source}"
    if rec.people:
        names = [p.split()[0] for p in rec.people[:2]]
        return " & ".join(names), "with " + " and ".join(names)
    return "", ""


def _tag_word(engine, rec: PhotoFeatures) -> str | None:
    """The photo's most telling tag: an event word first (EVENT_WORDS, best scored), else the tag
    least common in the history, weighed by its score."""
    events = [(score, w) for tag, score in rec.tags.items() for w in tag.split() if w in EVENT_WORDS]
    if events:
        return max(events)[1]
    total = max(1.0, float(engine.history_size))
    best, best_s = None, 0.0
    for tag, score in rec.tags.items():
        if tag in GENERIC_TAGS or tag in STOPWORDS:
            continue
        row = engine.tables["tags"].rows.get(tag)
        share = (row.raw_total / total) if row is not None else 0.0
        s = score * (1.0 - min(share * 3, 0.9))  # a tag on a third of all photos says little
        if s > best_s:
            best, best_s = tag, s
    return best


def _caption_word(rec: PhotoFeatures) -> str | None:
    words = [w for w in rec.caption_words() if w not in GENERIC_TAGS]
    return words[0] if words else None


def outcome(suggested: list | None, chosen: str | None) -> str | None:
    """What the user did with a proposed new folder: "unchanged" (filed under the proposed name),
    "edited" (the proposed date with another text), "other" (somewhere else); None without one."""
    prop = next((s for s in suggested or [] if isinstance(s, dict) and s.get("new")), None)
    if prop is None or chosen is None:
        return None
    if chosen == prop["folder"]:
        return "unchanged"
    mine, theirs = shape_of(prop["folder"]), shape_of(chosen)
    if mine is not None and theirs is not None and mine[2] == theirs[2] and mine[1] != theirs[1]:
        return "edited"  # the proposed date, another text
    return "other"
