"""Synthetic decision histories for the folder suggester, in the public `jaicat suggest eval` format.

Each household has its own people, phones, home, pets, habits and folder scheme:
  - "people": Family/<name>, Events/YYYY-MM-DD <event>, topic folders (Receipts, Screenshots, Pets/<pet>)
  - "yearly": <year>/<year>-<mm> <event>, <year>/Misc, Kids/<name>/<year>, Receipts/<year> (drift each year)
  - "flat":   "<Event> <year>", "<name>", "Screenshots", "Memes", "Garden", ...
Photos come from a simulated life: everyday shots (people, pets, food, receipts, screenshots, documents),
and events (holidays, birthdays, weddings) with bursts at one place over hours or days. The tagger is
noisy (missed tags, spurious tags, jittered scores), faces are missed or unnamed, captions are templated
from the true content, embeddings are 'CLIP-like' (a shared component plus concept, scene and noise),
some photos lack EXIF (screenshots, messaging apps), and decisions come in evening sorting sessions with
some backlog sorted out of order. A few percent of decisions are inconsistent, as real users are.

    python bench/histories.py --out /tmp/hist --households 4 --decisions 3000 --dim 64
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np

FIRST = ["Amy", "Ben", "Chloe", "Dan", "Ella", "Finn", "Grace", "Hugo", "Isla", "Jack", "Kate", "Leo",
         "Maya", "Noah", "Olivia", "Paul", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Yara", "Zoe"]
SURN = ["H", "K", "M", "P", "R", "S", "T", "W"]
PETS = [("Rex", "dog"), ("Milo", "cat"), ("Luna", "dog"), ("Coco", "cat"), ("Pip", "rabbit")]
PHONES = ["Apple iPhone 12", "Apple iPhone 14 Pro", "Samsung SM-G991B", "Google Pixel 7", "Xiaomi 2201117TG"]
CAMERAS = ["Canon EOS 80D", "Sony ILCE-7M3", "FUJIFILM X-T3"]
PLACES = {  # name: (lat, lon, scene tags)
    "Greece": (37.44, 25.33, ["beach", "sea", "sky", "boat"]), "Alps": (46.55, 7.98, ["mountain", "snow", "sky"]),
    "Paris": (48.86, 2.35, ["city", "building", "street"]), "Rome": (41.90, 12.49, ["city", "ruins", "building"]),
    "Cornwall": (50.26, -5.05, ["beach", "sea", "cliff"]), "Lake District": (54.46, -3.09, ["lake", "mountain", "boat"]),
    "Barcelona": (41.39, 2.17, ["city", "beach", "building"]), "Norway": (60.39, 5.32, ["mountain", "lake", "boat"]),
    "Scotland": (56.82, -5.11, ["mountain", "lake", "castle"]), "Berlin": (52.52, 13.40, ["city", "street", "building"]),
}
EVENTS = {  # kind: (tags, days, photos per day, people share)
    "Birthday": (["cake", "balloon", "party", "candle"], 1, 25, 0.9),
    "Wedding": (["wedding", "dress", "flower", "suit"], 1, 50, 0.9),
    "Holiday": (None, 7, 12, 0.6),
    "Weekend away": (None, 2, 15, 0.6),
    "Concert": (["stage", "crowd", "light", "concert"], 1, 15, 0.3),
    "Christmas": (["christmas tree", "gift", "dinner", "light"], 2, 20, 0.9),
    "School play": (["stage", "child", "costume"], 1, 20, 0.8),
    "Hike": (["mountain", "trail", "forest", "sky"], 1, 20, 0.5),
}
TOPICS = {  # topic: (tags, caption scene, camera kind, gps?, exif date?)
    "receipt": (["receipt", "paper", "text", "document"], "a receipt on a table", "phone", 0.3, 0.9),
    "screenshot": (["screenshot", "text", "phone screen", "website"], "a screenshot of a phone screen", None, 0.0, 0.3),
    "document": (["document", "paper", "text", "letter"], "a letter on a desk", "phone", 0.2, 0.9),
    "food": (["food", "plate", "dinner", "table"], "a plate of food on a table", "phone", 0.8, 1.0),
    "meme": (["text", "cartoon", "meme", "drawing"], "a cartoon with text", None, 0.0, 0.2),
    "car": (["car", "road", "vehicle", "wheel"], "a car parked on a street", "phone", 0.9, 1.0),
    "garden": (["garden", "flower", "plant", "grass"], "flowers in a garden", "phone", 0.9, 1.0),
    "renovation": (["room", "wall", "paint", "tool"], "a room with a ladder and paint", "phone", 0.9, 1.0),
}
NOISE_TAGS = ["person", "indoor", "outdoor", "tree", "sky", "table", "chair", "window", "light", "wall",
              "floor", "grass", "water", "car", "text", "hand", "smile", "dog", "cat", "food", "phone"]


class Concepts:
    """Random unit vectors per concept, mixed into CLIP-like embeddings with a shared component."""

    def __init__(self, rng: np.random.Generator, dim: int):
        self.rng, self.dim = rng, dim
        self.vecs: dict[str, np.ndarray] = {}
        self.common = self.get("__common__")

    def get(self, name: str) -> np.ndarray:
        v = self.vecs.get(name)
        if v is None:
            v = self.rng.standard_normal(self.dim).astype(np.float32)
            v /= np.linalg.norm(v)
            self.vecs[name] = v
        return v

    def embed(self, parts: list[tuple[str, float]], noise: float = 0.55) -> list[float]:
        v = 1.1 * self.common
        for name, w in parts:
            v = v + w * self.get(name)
        v = v + noise * self.rng.standard_normal(self.dim).astype(np.float32) / math.sqrt(self.dim) * 4
        return (v / np.linalg.norm(v)).astype(np.float64).round(4).tolist()


def _person(rng, used):
    while True:
        name = f"{rng.choice(FIRST)} {rng.choice(SURN)}"
        if name not in used:
            used.add(name)
            return name


def household(seed: int, n_decisions: int, dim: int = 64, scheme: str | None = None) -> list[dict]:
    """One household's decision history (list of records in decision order)."""
    rng = np.random.default_rng(seed)
    C = Concepts(rng, dim)
    scheme = scheme or ["people", "yearly", "flat"][seed % 3]
    used: set = set()
    family_name = rng.choice(SURN)
    kids = [f"{n} {family_name}" for n in rng.choice(FIRST, size=int(rng.integers(1, 4)), replace=False)]
    used.update(kids)
    partner = _person(rng, used)
    friends = [_person(rng, used) for _ in range(int(rng.integers(3, 9)))]
    pet_name, pet_kind = PETS[int(rng.integers(len(PETS)))]
    pet_from = float(rng.uniform(0, 0.5))  # share of the timeline before the pet arrives
    phones = list(rng.choice(PHONES, size=int(rng.integers(1, 3)), replace=False))
    dslr = rng.choice(CAMERAS) if rng.random() < 0.5 else None
    home = (float(rng.uniform(45, 56)), float(rng.uniform(-4, 14)))
    topics = list(rng.choice(list(TOPICS), size=int(rng.integers(3, 6)), replace=False))
    if "screenshot" not in topics:
        topics.append("screenshot")
    topic_weight = {t: float(rng.uniform(0.3, 1.5)) for t in topics}
    reno_span = sorted(rng.uniform(0.2, 0.9, size=2))
    start = dt.datetime(2021 + int(rng.integers(0, 3)), int(rng.integers(1, 13)), 1, 8, 0)
    per_day = float(rng.uniform(6, 14))

    def folder_for(kind: str, when: dt.datetime, who: str | None = None, ev: dict | None = None) -> str:
        y = when.year
        if kind == "event":
            if scheme == "people":
                return f"Events/{ev['start']:%Y-%m-%d} {ev['title']}"
            if scheme == "yearly":
                return f"{ev['start'].year}/{ev['start']:%Y-%m} {ev['title']}"
            return f"{ev['title']} {ev['start'].year}"
        if kind == "person":
            if scheme == "people":
                return f"Family/{who.split()[0]}"
            if scheme == "yearly":
                return f"Kids/{who.split()[0]}/{y}" if who in kids else f"{y}/Family"
            return who.split()[0]
        if kind == "pet":
            return {"people": f"Pets/{pet_name}", "yearly": f"{y}/{pet_name}", "flat": pet_name}[scheme]
        if kind == "receipt" and scheme == "yearly":
            return f"Receipts/{y}"
        if kind == "misc":
            return {"people": "Misc", "yearly": f"{y}/Misc", "flat": "Camera roll"}[scheme]
        names = {"receipt": "Receipts", "screenshot": "Screenshots", "document": "Documents", "food": "Food",
                 "meme": "Memes", "car": "Cars", "garden": "Garden", "renovation": "House/Renovation"}
        return names[kind]

    def tagger(true: list[str]) -> dict:
        out = {}
        for t in true:
            if rng.random() < 0.8:
                out[t] = float(np.clip(rng.normal(0.55, 0.2), 0.05, 0.99))
        for t in rng.choice(NOISE_TAGS, size=int(rng.integers(1, 4)), replace=False):
            out.setdefault(str(t), float(np.clip(rng.normal(0.25, 0.12), 0.02, 0.9)))
        return {k: round(v, 3) for k, v in out.items()}

    def faces(who: list[str]) -> list[str]:
        return [p for p in who if rng.random() < 0.75]  # missed or unnamed faces

    def jitter(pos, km):
        return [round(pos[0] + rng.normal(0, km / 111), 5), round(pos[1] + rng.normal(0, km / 75), 5)]

    photos = []
    events: list[dict] = []
    next_event = start + dt.timedelta(days=float(rng.uniform(5, 25)))
    now = start
    total_days = max(60, int(n_decisions / (per_day * 0.5 + 5)))
    t_end = start + dt.timedelta(days=total_days)
    while len(photos) < n_decisions * 1.05:
        frac = min(1.0, (now - start) / (t_end - start))
        if now >= next_event:
            kind = str(rng.choice(list(EVENTS), p=[0.2, 0.05, 0.2, 0.15, 0.08, 0.1, 0.1, 0.12]))
            tags, days, ppd, pshare = EVENTS[kind]
            place = str(rng.choice(list(PLACES)))
            lat, lon, scene = PLACES[place]
            if kind in ("Birthday", "Christmas", "School play"):
                lat, lon, scene = home[0], home[1], []
                place = rng.choice(kids + [partner]).split()[0] if kind == "Birthday" else ""
            title = {"Holiday": place, "Weekend away": place, "Birthday": f"{place} birthday",
                     "Hike": f"Hike {place}"}.get(kind, kind)
            ev = {"start": now, "title": title, "tags": (tags or []) + scene, "pos": (lat, lon), "kind": kind,
                  "guests": list(rng.choice(friends, size=min(3, len(friends)), replace=False))}
            events.append(ev)
            for d in range(days):
                for _ in range(int(rng.poisson(ppd))):
                    # bursts: photos cluster around a few moments of each day
                    moment = now + dt.timedelta(days=d, hours=float(rng.choice([2, 4, 7, 10])))
                    when = moment + dt.timedelta(minutes=float(rng.exponential(12)))
                    who = [p for p in kids + [partner] + ev["guests"] if rng.random() < pshare * 0.5]
                    cam = dslr if dslr and rng.random() < 0.4 else str(rng.choice(phones))
                    photos.append(dict(kind="event", when=when, who=who, ev=ev, cam=cam,
                                       gps=jitter(ev["pos"], 1.5), true=ev["tags"] + (["person"] if who else [])))
            now += dt.timedelta(days=days)
            next_event = now + dt.timedelta(days=float(rng.exponential(14)) + 3)
            continue
        # an ordinary day
        for _ in range(int(rng.poisson(per_day * 0.5))):
            when = now + dt.timedelta(hours=float(rng.uniform(0, 14)))
            r = rng.random()
            cam = str(rng.choice(phones))
            if r < 0.35:
                who = [str(rng.choice(kids + [partner]))] + ([str(rng.choice(kids))] if rng.random() < 0.3 else [])
                who = list(dict.fromkeys(who))
                main = who[0] if rng.random() < 0.85 else str(rng.choice(kids + [partner]))
                photos.append(dict(kind="person", main=main, when=when, who=who, cam=cam, gps=jitter(home, 3),
                                   true=["person", "smile", str(rng.choice(["indoor", "outdoor", "park"]))]))
            elif r < 0.5 and frac >= pet_from:
                who = [str(rng.choice(kids))] if rng.random() < 0.2 else []
                photos.append(dict(kind="pet", when=when, who=who, cam=cam, gps=jitter(home, 1),
                                   true=[pet_kind, "pet", "floor" if rng.random() < 0.5 else "grass"]))
            elif r < 0.9:
                options = [t for t in topics if t != "renovation" or reno_span[0] <= frac <= reno_span[1]]
                w = np.array([topic_weight[t] for t in options])
                kind = str(rng.choice(options, p=w / w.sum()))
                tags, scene, camkind, gps_p, date_p = TOPICS[kind]
                photos.append(dict(kind=kind, when=when if rng.random() < date_p else None, who=[],
                                   cam=cam if camkind else None,
                                   gps=jitter(home, 5) if rng.random() < gps_p else None, true=tags,
                                   scene=scene))
            else:
                who = [p for p in kids + [partner] if rng.random() < 0.3]
                photos.append(dict(kind="misc", when=when, who=who, cam=cam, gps=jitter(home, 20),
                                   true=list(rng.choice(NOISE_TAGS, size=3, replace=False))))
        now += dt.timedelta(days=1)

    # decision order: evening sessions a day or a few later; a shuffled backlog at the start
    for p in photos:
        p["decided"] = (p["when"] or start) + dt.timedelta(days=float(rng.exponential(1.5)) + 0.3)
    backlog = int(len(photos) * 0.05)
    for p in photos[:backlog]:
        p["decided"] = start + dt.timedelta(days=float(rng.uniform(0, 30)))
    photos.sort(key=lambda p: p["decided"])

    out = []
    recent_folders: list[str] = []
    for i, p in enumerate(photos[:n_decisions]):
        when = p["when"] or p["decided"]
        kind = p["kind"]
        if kind == "event":
            folder = folder_for("event", when, ev=p["ev"])
            concept = [("event:" + p["ev"]["title"] + str(p["ev"]["start"].year), 1.0)] + \
                      [(t, 0.4) for t in p["ev"]["tags"][:3]]
        elif kind == "person":
            folder = folder_for("person", when, who=p["main"])
            concept = [("face:" + p["main"], 0.9), ("home", 0.5)]
        elif kind == "pet":
            folder = folder_for("pet", when)
            concept = [("pet:" + pet_name, 1.1), ("home", 0.4)]
        elif kind == "misc":
            folder = folder_for("misc", when)
            concept = [(t, 0.5) for t in p["true"]]
        else:
            folder = folder_for(kind, when)
            concept = [("topic:" + kind, 1.2)]
        if rng.random() < 0.04 and recent_folders:  # inconsistent human filing
            folder = str(rng.choice(recent_folders[-20:]))
        recent_folders.append(folder)
        who = faces(p["who"])
        true = list(dict.fromkeys(p["true"]))
        tags = tagger(true)
        if kind in TOPICS:
            caption = p["scene"]
        elif who:
            caption = f"a {'group of people' if len(who) > 1 else 'person'} {rng.choice(['smiling', 'standing', 'sitting'])} " \
                      f"{'on a ' + true[0] if true and true[0] not in ('person', 'smile') else 'indoors'}"
        else:
            caption = " ".join(["a"] + true[:2]) if true else None
        rec = {
            "id": f"h{seed}-{i:06d}",
            "taken_at": p["when"].replace(microsecond=0).isoformat() if p["when"] else None,
            "tags": tags, "people": who, "caption": caption if rng.random() < 0.9 else None,
            "camera": p["cam"], "gps": p["gps"],
            "embedding": C.embed(concept + [(t, 0.2) for t in tags]) if dim else None,
            "folder": folder,
        }
        out.append(rec)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="directory for household-<n>.jsonl")
    ap.add_argument("--households", type=int, default=4)
    ap.add_argument("--decisions", type=int, default=3000)
    ap.add_argument("--dim", type=int, default=64, help="embedding size (0: no embeddings)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for h in range(args.households):
        recs = household(args.seed + h, args.decisions, args.dim)
        path = out / f"household-{h}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for r in recs:
                fh.write(json.dumps(r) + "\n")
        print(f"{path}: {len(recs)} decisions, {len({r['folder'] for r in recs})} folders")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
