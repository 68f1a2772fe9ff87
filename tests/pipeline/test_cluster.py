"""Analysis on a Ray cluster (`jaicat analyse --ray local`): the same results as in-process, and a
worker killed mid-run loses only its batch.

Ray is heavy on two cores: each test starts one local runtime (num_cpus=2, two actors) and stops it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket

import numpy as np
import pytest

pytest.importorskip("ray")

from jaicat import events  # noqa: E402
from jaicat.cli.main import main  # noqa: E402
from jaicat.db import Face, Photo, blob_to_vec, database, open_db  # noqa: E402
from jaicat.pipeline.analysis import Analyser  # noqa: E402
from jaicat.pipeline.cluster import Cluster  # noqa: E402
from jaicat.pipeline.worker import run_pending  # noqa: E402


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def data_dir(tmp_path, tiny_models, monkeypatch):
    for k in list(os.environ):
        if k.startswith("JAICAT_"):
            monkeypatch.delenv(k)
    yield _config(tmp_path / "data", tiny_models, tmp_path / "models")
    if not database.is_closed():
        database.close()


def test_an_unreachable_cluster_is_a_clear_error_and_loses_nothing(data_dir, media_dir, capsys):
    photo = next((media_dir / "faces" / "Joe_Biden").iterdir())
    assert main(["--data-dir", str(data_dir), "import", str(photo)]) == 0
    capsys.readouterr()
    port = _closed_port()
    assert main(["--data-dir", str(data_dir), "analyse", "--ray", f"127.0.0.1:{port}"]) == 2
    assert f"error: cannot reach the Ray cluster at 127.0.0.1:{port}" in capsys.readouterr().err
    assert main(["--data-dir", str(data_dir), "analyse", "--ray", "my-gpu-pc"]) == 2
    assert "is not local, auto, HOST:PORT or ray://HOST:PORT" in capsys.readouterr().err
    assert main(["--data-dir", str(data_dir), "analyse", "--ray", "local", "--ray-workers", "-1"]) == 2
    assert "--ray-workers must be 0 or more" in capsys.readouterr().err
    open_db(data_dir / "jaicat.db")
    assert Photo.pending().count() == 1  # still waiting, not failed
    from jaicat.db import Job

    assert Job.select().count() == 0


def test_server_worker_analyses_in_process_while_the_cluster_is_unreachable(ml_settings, add_photos, no_faces,
                                                                             caplog):
    from jaicat.pipeline.worker import Worker
    from jaicat.runtime import Runtime

    ml_settings.ray_address = f"127.0.0.1:{_closed_port()}"
    runtime = Runtime(ml_settings)  # the setting gives the server's worker its cluster
    assert runtime.worker.cluster is runtime.cluster and runtime.cluster.address == ml_settings.ray_address
    photos = add_photos(3)
    worker = Worker(ml_settings)
    worker.cluster = runtime.cluster
    worker._run_pending()
    assert all(Photo.get_by_id(p.id).embedding is not None for p in photos)
    assert "cannot reach the Ray cluster" in caplog.text and "analysing in this process" in caplog.text
    assert worker._cluster_retry_at > 0  # not asked again on every photo
    runtime.close()


def _config(d, tiny_models, models_dir):
    d.mkdir(parents=True)
    (d / "jaicat.toml").write_text(
        f'clip_model = "{tiny_models["clip"]}"\ncaption_model = "{tiny_models["caption"]}"\n'
        f'models_dir = "{models_dir}"\ntag_threshold = 0.0\ntag_top_k = 3\nzeroconf = false\n'
        "batch_size = 3\nface_max_side = 1024\n")
    return d


def _catalogue(data_dir) -> dict:
    """Everything analysis wrote, keyed by sha256 so two catalogues compare photo by photo."""
    from jaicat.people.persons import list_people
    from jaicat.photos.tags import photo_tags

    open_db(data_dir / "jaicat.db")
    try:
        out = {"people": sorted((p["name"], p["face_count"]) for p in list_people()), "photos": {}}
        for p in Photo.select():
            faces = sorted((round(f.x, 4), round(f.y, 4), round(f.w, 4), round(f.h, 4),
                            f.person.name if f.person else None, np.frombuffer(f.encoding, dtype="<f4"))
                           for f in Face.select().where(Face.photo == p))
            out["photos"][p.sha256] = {
                "analysed": p.analysed_at is not None, "error": p.analysis_error, "caption": p.caption,
                "embedding": blob_to_vec(p.embedding) if p.embedding else None,
                "tags": [(t["name"], t["source"], t["score"]) for t in photo_tags(p.id)], "faces": faces}
        return out
    finally:
        database.close()


@pytest.mark.slow
def test_analyse_on_ray_local_matches_in_process(tmp_path, media_dir, tiny_models, monkeypatch, capsys):
    for k in list(os.environ):
        if k.startswith("JAICAT_"):
            monkeypatch.delenv(k)
    pictures = tmp_path / "Pictures"  # two people known, two not: matches and unknown faces both
    for person, folder in (("Barack Obama", "Barack_Obama"), ("Kit Harington", "Kit_Harington")):
        first = sorted((media_dir / "faces" / folder).iterdir())[0]
        (pictures / person).mkdir(parents=True)
        shutil.copy(first, pictures / person / first.name)
    photos = tmp_path / "photos"
    photos.mkdir()
    for f in [*sorted((media_dir / "faces").glob("*/*.jpg")), *sorted((media_dir / "faces_groups").glob("*.jpg"))]:
        shutil.copy(f, photos / f"{f.parent.name}-{f.name}")
    models_dir = tmp_path / "models"
    runs = {}
    for name, extra in (("here", []), ("ray", ["--ray", "local", "--ray-workers", "2"])):
        d = _config(tmp_path / name, tiny_models, models_dir)
        assert main(["--data-dir", str(d), "faces", "enroll", str(pictures)]) == 0
        assert main(["--data-dir", str(d), "import", str(photos)]) == 0
        capsys.readouterr()
        assert main(["--data-dir", str(d), "analyse", "--quiet", *extra]) == 0
        assert ("on Ray: 2 workers" in capsys.readouterr().out) == bool(extra)
        runs[name] = _catalogue(d)

    here, ray = runs["here"], runs["ray"]
    assert len(here["photos"]) == 15 and here["photos"].keys() == ray["photos"].keys()
    assert here["people"] == ray["people"] and any(n == "Barack Obama" and c >= 3 for n, c in here["people"])
    assert sum(len(p["faces"]) for p in here["photos"].values()) >= 15
    assert all(p["caption"] for p in ray["photos"].values())  # the caption pass ran on the workers too
    for sha, a in here["photos"].items():
        b = ray["photos"][sha]
        assert a["analysed"] and b["analysed"] and a["error"] is None and b["error"] is None
        assert a["caption"] == b["caption"]
        np.testing.assert_allclose(a["embedding"], b["embedding"], atol=1e-5)
        assert [t[:2] for t in a["tags"]] == [t[:2] for t in b["tags"]]
        np.testing.assert_allclose([t[2] for t in a["tags"]], [t[2] for t in b["tags"]], atol=1e-3)
        assert [f[:5] for f in a["faces"]] == [f[:5] for f in b["faces"]]
        for fa, fb in zip(a["faces"], b["faces"], strict=True):
            np.testing.assert_allclose(fa[5], fb[5], atol=1e-5)


@pytest.mark.slow
def test_a_killed_worker_loses_only_its_batch(ml_settings, media_dir):
    """A worker process killed mid-run: its batches go to a fresh worker, every photo is stored once."""
    from jaicat.photos.ingest import ingest_file

    ml_settings.batch_size = 1
    ml_settings.face_max_side = 1024
    photos = [ingest_file(f, ml_settings).photo for f in sorted((media_dir / "faces").glob("*/*.jpg"))[:8]]
    hub = events.Hub()
    q = hub.subscribe()
    cluster = Cluster(ml_settings, "local", workers=2)
    killed = []

    def progress(done, total):
        if not killed:  # both workers hold a batch now: kill one of them for real
            pid = cluster.started[0]["pid"]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    try:
        job = run_pending(ml_settings, progress=progress, analyser=Analyser(ml_settings), cluster=cluster)
    finally:
        cluster.close()
    assert killed and cluster.lost_batches >= 1
    assert job.status == "done" and job.done == len(photos)
    analysed = []
    while not q.empty():
        e = q.get_nowait()
        if e["type"] == events.PHOTO_ANALYSED:
            analysed.append(e["photo_id"])
    assert sorted(analysed) == sorted(p.id for p in photos)  # each exactly once
    for p in photos:
        p = Photo.get_by_id(p.id)
        assert p.analysed_at is not None and p.analysis_error is None and p.embedding is not None
    assert Face.select().count() >= len(photos) - 1  # one face each (a partial face may be missed), none twice
    assert Face.select(Face.photo).distinct().count() == Face.select().count()


@pytest.mark.slow
def test_the_server_worker_analyses_on_the_cluster_the_setting_names(ml_settings, add_photos):
    """`ray_address = "local"`: the running server's worker thread starts Ray and analyses there."""
    from jaicat.runtime import Runtime

    ml_settings.ray_address, ml_settings.ray_workers = "local", 1
    photos = add_photos(3)
    runtime = Runtime(ml_settings)
    try:
        runtime.worker.idle_wait = 0.2
        runtime.worker.start()
        assert runtime.worker.idle.wait(300), runtime.worker.last_error
        assert runtime.cluster.started and sum(n for n, *_ in runtime.cluster.batch_log) == len(photos)
        for p in photos:
            p = Photo.get_by_id(p.id)
            assert p.analysed_at is not None and p.embedding is not None and p.analysis_error is None
    finally:
        runtime.close()


def test_the_thorough_pass_of_analyse_ray_runs_on_the_workers(tmp_path, media_dir, tiny_models, monkeypatch, capsys):
    """With dlib's HOG (never sure) every photo gets the thorough pass: on Ray it runs in the workers, the
    head only stores what they found (its own thorough detector would raise here)."""
    from jaicat.people import passes

    for k in list(os.environ):
        if k.startswith("JAICAT_"):
            monkeypatch.delenv(k)

    def not_here(*a, **kw):
        raise AssertionError("the thorough pass ran on the head")

    monkeypatch.setattr(passes, "thorough_faces", not_here)
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(media_dir / "faces_groups" / "kit_with_rose.jpg", photos / "kr.jpg")
    d = _config(tmp_path / "ray", tiny_models, tmp_path / "models")
    with (d / "jaicat.toml").open("a") as f:
        f.write('face_model = "hog"\ncaptions = false\n')
    assert main(["--data-dir", str(d), "import", str(photos)]) == 0
    capsys.readouterr()
    assert main(["--data-dir", str(d), "analyse", "--quiet", "--ray", "local", "--ray-workers", "1"]) == 0
    assert "thorough face pass (on Ray): 1 photos" in capsys.readouterr().out
    open_db(d / "jaicat.db")
    try:
        (photo,) = Photo.select()
        assert photo.faces_pass == passes.THOROUGH and Face.select().count() == 2
    finally:
        database.close()
