"""Search benchmark: what merging exact matches ahead of CLIP costs, and what it finds that CLIP alone
loses, on a synthetic catalogue (N photos with 512-d embeddings, tags, captions, people, folders).

    python bench/search.py [--photos 20000] [--repeat 5]

For each query: ms per search with the exact-match merge ("merged") and CLIP's ranking alone ("clip",
the behaviour before), and how many of the photos that carry the typed person/tag/words are in the
first page of 50 with each. CLIP is stood in for by a fixed random text vector (no weights needed): the
point is the ranking's cost and that an exact match is never lost, not CLIP's quality.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np

from jaicat.config import load_settings
from jaicat.db import Face, Person, Photo, PhotoTag, Tag, database, open_db, vec_to_blob
from jaicat.search import query as search

WORDS = "beach dog sunset tower mountain lake snow city street cake candles bike garden river boat".split()
PEOPLE = ["Amy H", "Ben K", "Cara L", "Dev M", "Angelina Jolie"]
QUERIES = ["angelina jolie", "candles", "grandma candles", "Paris", "a dog on the beach", "tower at sunset"]


def build(n: int, data_dir: Path):
    settings = load_settings(data_dir=data_dir, env={}, zeroconf=False, worker=False)
    settings.ensure_dirs()
    open_db(settings.db_path)
    rng = np.random.default_rng(7)
    now = dt.datetime(2024, 1, 1)
    rows = []
    for i in range(n):
        vec = rng.standard_normal(512).astype("<f4")
        vec /= np.linalg.norm(vec)
        words = rng.choice(WORDS, 3, replace=False)
        cap = f"a {words[0]} near the {words[1]}" + (" with grandma and candles" if i % 997 == 0 else "")
        folder = ["Trips/Paris 2024", "Family", "Pets", "Trips/Rome", "Garden"][i % 5]
        rows.append(dict(sha256=f"{i:064x}", phash=f"{i:016x}", original_filename=f"IMG_{i:05d}.jpg", size=1,
                         mime="image/jpeg", width=10, height=10, status="filed", root="library",
                         path=f"{folder}/IMG_{i:05d}.jpg", caption=cap, embedding=vec_to_blob(vec),
                         analysed_at=now, created_at=now + dt.timedelta(minutes=i)))
    with database.atomic():
        for start in range(0, n, 500):
            Photo.insert_many(rows[start:start + 500]).execute()
        tags = {w: Tag.create(name=w) for w in WORDS}
        people = {p: Person.create(name=p) for p in PEOPLE}
        ids = [i for (i,) in Photo.select(Photo.id).tuples()]
        pt = [dict(photo=i, tag=tags[WORDS[(i * 7) % len(WORDS)]].id, source="user") for i in ids]
        for start in range(0, len(pt), 500):
            PhotoTag.insert_many(pt[start:start + 500]).execute()
        faces = [dict(photo=i, x=0, y=0, w=0.1, h=0.1, encoding=b"", person=people[PEOPLE[i % 251 % len(PEOPLE)]].id)
                 for i in ids if i % 251 < len(PEOPLE)]
        Face.insert_many(faces).execute()
    return settings


def carrying(text: str) -> set[int]:
    """The photos a user expects for `text`: the person or tag it names, or every word in the caption."""
    from jaicat.search.exact import exact_matches

    return {i for i, _ in exact_matches(text, Photo.live())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        settings = build(args.photos, Path(tmp) / "data")
        print(f"catalogue: {args.photos} photos built in {time.perf_counter() - t0:.1f} s")
        text_vec = np.random.default_rng(1).standard_normal(512).astype(np.float32)
        text_vec /= np.linalg.norm(text_vec)
        search.embed_text = lambda settings, text, models: text_vec  # stand-in for CLIP's text tower
        search.search(settings, "warm up", limit=50)  # builds the photo index once
        print(f"{'query':<22} {'merged ms':>10} {'clip ms':>9} {'expected':>9} {'found merged':>13} {'found clip':>11}")
        real_exact = search.exact_matches
        for text in QUERIES:
            want = carrying(text)
            timings = {}
            found = {}
            for mode in ("merged", "clip"):
                search.exact_matches = real_exact if mode == "merged" else (lambda t, b: [])
                best = float("inf")
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    hits = search.search(settings, text, limit=50)
                    best = min(best, time.perf_counter() - t)
                timings[mode] = best * 1000
                found[mode] = len({h.photo.id for h in hits} & want)
            search.exact_matches = real_exact
            expected = min(len(want), 50)
            print(f"{text:<22} {timings['merged']:>10.1f} {timings['clip']:>9.1f} {expected:>9} "
                  f"{found['merged']:>13} {found['clip']:>11}")


if __name__ == "__main__":
    main()
