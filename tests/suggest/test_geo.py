"""GeoIndex.near reads a cached view of the live points (float32 offsets, sorted by latitude, no
wrap-around pass when none is needed): its points must be those of a plain float64 scan of the whole
ring, their distances the same within a few metres."""

import math

import numpy as np

from jaicat.suggest.stats import GeoIndex


def scan(geo: GeoIndex, gps: tuple, radius_km: float, everything: bool = False):
    lat0, lon0 = gps
    dy = (geo.lat[: geo.n] - lat0) * 110.57
    dlon = np.abs(geo.lon[: geo.n] - lon0)
    dlon = np.minimum(dlon, 360.0 - dlon)
    dx = dlon * (111.32 * math.cos(math.radians(lat0)))
    d2 = dx * dx + dy * dy
    hit = (d2 <= radius_km * radius_km) & (geo.folder[: geo.n] >= 0)
    if everything:
        return np.sqrt(d2)
    return np.sqrt(d2[hit]), geo.folder[: geo.n][hit]


def test_near_equals_a_scan_of_the_ring():
    rng = np.random.default_rng(5)
    geo = GeoIndex(capacity=3000)
    homes = [(48.85, 2.35), (-33.9, 151.2), (64.1, -179.6), (63.9, 179.7)]  # two across the antimeridian
    for rid in range(4000):  # the ring wraps: the first 1000 are overwritten
        lat, lon = homes[rid % 4] if rid % 7 else (rng.uniform(-80, 80), rng.uniform(-180, 180))
        lon = (lon + rng.normal(0, 0.3) + 180.0) % 360.0 - 180.0
        geo.add((lat + rng.normal(0, 0.3), lon), rid % 13, rid)
    for rid in range(1500, 1600):
        geo.remove(rid)  # dead points are never returned
    queries = [homes[0], homes[2], homes[3], (0.0, 0.0), (10.0, -60.0), (48.9, 2.3), (-33.0, 150.0)]
    found_far, found_wrap = False, False
    for gps in queries:
        for radius in (5.0, 100.0, 400.0):
            d, fs = geo.near(gps, radius)
            want_d, want_fs = scan(geo, gps, radius)
            # (no point of this seeded ring lies within the float32 rounding of a radius)
            assert not (np.abs(scan(geo, gps, radius, everything=True) - radius) < 0.005).any()
            assert d.dtype == np.float32 and sorted(fs.tolist()) == sorted(want_fs.tolist())
            for f in set(want_fs.tolist()):  # each folder's distances, within metres across the globe
                assert np.allclose(np.sort(d[fs == f]), np.sort(want_d[want_fs == f]), rtol=0, atol=0.005)
            found_far |= gps == (0.0, 0.0) and d.size == 0
            found_wrap |= gps == homes[2] and bool((fs == 3).any())  # the other side's folder is near
    assert found_far and found_wrap
    geo.merge_folder(3, 2)
    d, fs = geo.near(homes[3], 100.0)
    assert fs.size and not (fs == 3).any() and sorted(fs.tolist()) == sorted(scan(geo, homes[3], 100.0)[1].tolist())


def test_an_empty_or_all_removed_ring_finds_nothing():
    geo = GeoIndex(capacity=8)
    assert geo.near((1.0, 2.0), 100.0)[0].size == 0
    geo.add((1.0, 2.0), 0, 7)
    assert geo.near((1.0, 2.0), 100.0)[1].tolist() == [0]
    geo.remove(7)
    assert geo.near((1.0, 2.0), 100.0)[0].size == 0


def test_the_grid_groups_each_folders_points_per_cell():
    rng = np.random.default_rng(9)
    geo = GeoIndex(capacity=5000)
    homes = [(48.85, 2.35), (-33.9, 151.2), (64.1, -179.99), (86.0, 10.0)]  # across the antimeridian, near a pole
    for rid in range(6000):  # the ring wraps
        lat, lon = homes[rid % 4]
        geo.add((lat + rng.normal(0, 0.01), (lon + rng.normal(0, 0.015) + 180.0) % 360.0 - 180.0), rid % 11, rid)
    for rid in range(5200, 5300):
        geo.remove(rid)  # dead points are in no group
    live = geo.folder[: geo.n][geo.folder[: geo.n] >= 0]
    d, fs, count = geo.groups(homes[0], 1e5)  # every group, from anywhere
    assert count.sum() == live.size and count.size < live.size / 3
    assert np.array_equal(np.bincount(fs, count, minlength=11), np.bincount(live, minlength=11))
    for home in homes:
        d, fs, count = geo.groups(home, 100.0)
        near_d, near_fs = geo.near(home, 100.0)
        assert d.max() <= 100.0 and abs(count.sum() - near_d.size) <= 0.01 * near_d.size  # where its mean is
        # the wide kernel per folder, from the groups and from the points: within 1%
        want = np.bincount(near_fs, np.exp(-near_d.astype(np.float64) / 20.0), minlength=11)
        got = np.bincount(fs, count * np.exp(-d.astype(np.float64) / 20.0), minlength=11)
        assert np.allclose(got, want, rtol=0.01, atol=0.01 * want.max())
    geo.merge_folder(3, 2)  # the groups follow the ring
    assert 3 not in geo.groups(homes[0], 1e5)[1]
    assert np.array_equal(np.bincount(geo.groups(homes[0], 1e5)[1], geo.groups(homes[0], 1e5)[2], minlength=11),
                          np.bincount(geo.folder[: geo.n][geo.folder[: geo.n] >= 0], minlength=11))


def test_the_groups_follow_each_point_added_or_taken_out():
    rng = np.random.default_rng(11)
    geo = GeoIndex(capacity=2000)

    def place():
        return (48.85 + rng.normal(0, 0.02), 2.35 + rng.normal(0, 0.03))

    for rid in range(2000):  # a full ring
        geo.add(place(), rid % 7, rid)
    geo.groups((48.85, 2.35), 100.0)  # the grid is made
    for rid in range(2000, 2100):  # each pushes the oldest point out
        geo.add(place(), rid % 5, rid)
    for rid in (2050, 1500, 7):  # undone decisions (7 already left the ring)
        geo.remove(rid)
    assert geo._grid is not None and len(geo._delta) == 2 * 100 + 2  # patched, not made afresh
    live = geo.folder[: geo.n][geo.folder[: geo.n] >= 0]
    d, fs, count = geo.groups((48.85, 2.35), 1e5)
    assert np.array_equal(np.bincount(fs, count, minlength=7), np.bincount(live, minlength=7))
    patched = np.bincount(fs, count * np.exp(-d.astype(np.float64) / 20.0), minlength=7)
    geo._changed()  # for the comparison: a grid made afresh
    geo._grid = None
    d, fs, count = geo.groups((48.85, 2.35), 1e5)
    fresh = np.bincount(fs, count * np.exp(-d.astype(np.float64) / 20.0), minlength=7)
    assert np.allclose(patched, fresh, rtol=1e-3)
    for rid in range(2100, 2100 + GeoIndex.DELTAS):
        geo.add(place(), 0, rid)
    assert geo._grid is None  # too many to patch: made afresh on the next read
