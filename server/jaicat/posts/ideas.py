"""Post ideas: three short texts with hashtags to share a photo (or a few), drafted from what the
catalogue knows: the captioner's caption when the photo has been analysed, tags, the folder it is
filed in (usually a place or an event), the month it was taken (when the file says it), and people only when asked (a
person's name is theirs to share). Works without any model: templates in the household's language
(`language` setting); a caption makes the first idea read better.

No text leaves the server: the phone copies or shares what the user picks.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import PurePosixPath

from ..db import Face, Person, Photo, PhotoTag
from ..errors import InvalidInput

MAX_PHOTOS = 20
MAX_HASHTAGS = 6
_GENERIC_FOLDERS = {"inbox", "misc", "other", "photos", "pictures", "camera", "dcim", "new folder", "unsorted"}

TEMPLATES = {
    "en": {
        "months": "January February March April May June July August September October November December",
        "caption": "{caption}.", "when": "{month} {year}", "at": "in {place}", "with": "with {people}",
        "and": "and", "ideas": ("{caption} {at_place}{when_sep}", "Memories {at_place}{when_sep} ✨",
                                "{with_people}{at_place_sep}. {feeling}"),
        "feelings": ("What a day.", "Good times.", "One to keep."), "nocaption": "A moment",
    },
    "de": {
        "months": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
        "caption": "{caption}.", "when": "{month} {year}", "at": "in {place}", "with": "mit {people}",
        "and": "und", "ideas": ("{caption} {at_place}{when_sep}", "Erinnerungen {at_place}{when_sep} ✨",
                                "{with_people}{at_place_sep}. {feeling}"),
        "feelings": ("Was für ein Tag.", "Schöne Zeit.", "Zum Aufheben."), "nocaption": "Ein Moment",
    },
    "fr": {
        "months": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
        "caption": "{caption}.", "when": "{month} {year}", "at": "à {place}", "with": "avec {people}",
        "and": "et", "ideas": ("{caption} {at_place}{when_sep}", "Souvenirs {at_place}{when_sep} ✨",
                               "{with_people}{at_place_sep}. {feeling}"),
        "feelings": ("Quelle journée.", "De bons moments.", "À garder."), "nocaption": "Un moment",
    },
    "es": {
        "months": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
        "caption": "{caption}.", "when": "{month} de {year}", "at": "en {place}", "with": "con {people}",
        "and": "y", "ideas": ("{caption} {at_place}{when_sep}", "Recuerdos {at_place}{when_sep} ✨",
                              "{with_people}{at_place_sep}. {feeling}"),
        "feelings": ("Qué día.", "Buenos momentos.", "Para guardar."), "nocaption": "Un momento",
    },
}


def _hashtag(text: str) -> str | None:
    words = re.findall(r"\w+", text, re.UNICODE)
    tag = "".join(w[:1].upper() + w[1:] for w in words)
    return f"#{tag}" if 2 <= len(tag) <= 30 and not tag.isdigit() else None


def _place(photo: Photo) -> str | None:
    """The folder a photo is filed in, read as a place or an event ("Trips/Paris 2024" -> "Paris")."""
    folder = photo.folder
    if not folder:
        return None
    name = re.sub(r"\b(19|20)\d{2}\b", "", PurePosixPath(folder).name).strip(" -_")
    return name if name and name.casefold() not in _GENERIC_FOLDERS else None


def _join(names: list[str], word: str) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


def facts(photos: list[Photo], people: bool) -> dict:
    """What the ideas are made of: caption, tags, place, (year, month), people (when asked)."""
    ids = [p.id for p in photos]
    tags = Counter(t.tag.name for t in PhotoTag.visible().where(
        PhotoTag.photo.in_(ids), PhotoTag.source != "face").order_by(PhotoTag.score.desc()))
    names = []
    if people:
        for f in Face.select(Face, Person).join(Person).where(Face.photo.in_(ids)).order_by(Face.x):
            if f.person.name not in names:
                names.append(f.person.name)
    captions = [p.caption.strip().rstrip(".") for p in photos if p.caption]
    places = Counter(pl for pl in (_place(p) for p in photos) if pl)
    dates = sorted(p.captured_at for p in photos if p.captured_at)  # a file's date names no month
    return {"caption": captions[0] if captions else None, "tags": [t for t, _ in tags.most_common(8)],
            "place": places.most_common(1)[0][0] if places else None,
            "when": (dates[0].year, dates[0].month) if dates else None, "people": names}


def draft(photos: list[Photo], people: bool = False, language: str = "en") -> dict:
    """Three post ideas for `photos`: {"ideas": [{"text", "hashtags"}], "language", "facts"}."""
    if not photos:
        raise InvalidInput("give at least one photo")
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput(f"post ideas take at most {MAX_PHOTOS} photos")
    t = TEMPLATES.get(language) or TEMPLATES["en"]
    f = facts(photos, people)
    months = t["months"].split()
    when = t["when"].format(month=months[f["when"][1] - 1], year=f["when"][0]) if f["when"] else ""
    at_place = t["at"].format(place=f["place"]) if f["place"] else ""
    caption = f["caption"] or (f["tags"][0] if f["tags"] else t["nocaption"])
    caption = caption[:1].upper() + caption[1:]
    with_people = t["with"].format(people=_join(f["people"], t["and"])) if f["people"] else ""
    tags = [h for h in (_hashtag(x) for x in [*f["tags"], f["place"] or "", *(f["people"] if people else [])]) if h]
    if f["when"]:
        tags.append(f"#{f['when'][0]}")
    hashtags = list(dict.fromkeys(tags))[:MAX_HASHTAGS]
    out = []
    for i, template in enumerate(t["ideas"]):
        text = template.format(
            caption=caption, at_place=at_place, when=when or "", when_sep=f", {when}" if when else "",
            with_people=with_people[:1].upper() + with_people[1:] if with_people else caption,
            at_place_sep=f" {at_place}" if at_place else "", feeling=t["feelings"][i % len(t["feelings"])])
        text = re.sub(r"\s+([,.])", r"\1", re.sub(r"\s{2,}", " ", text)).strip(" ,")
        text = re.sub(r"^(\w+) ,", r"\1,", text).replace(" ,", ",").replace(",,", ",")
        if not text.endswith((".", "✨", "!", "?")):
            text += "."
        rotated = hashtags[i:] + hashtags[:i] if hashtags else []
        out.append({"text": text, "hashtags": rotated})
    return {"ideas": out, "language": language if language in TEMPLATES else "en",
            "facts": {**f, "when": when or None}}
