"""Videos go through analysis like photos: the models and dlib see the poster frame, so tags,
people and suggestions work for videos, and face boxes line up with the video's thumbnails."""

from __future__ import annotations

import numpy as np
from PIL import Image

from fixtures.videos import make_video
from jaicat.db import Face, Photo, blob_to_vec
from jaicat.photos import imaging
from jaicat.photos.ingest import ingest_file
from jaicat.pipeline.analysis import Analyser


def test_a_video_is_analysed_on_its_poster_frame_faces_included(ml_settings, media_dir, tmp_path):
    face = next((media_dir / "faces" / "Barack_Obama").iterdir())
    picture = np.asarray(imaging.open_upright(face, max_side=480))
    clip = make_video(tmp_path / "speech.mp4", seconds=2, picture=picture)
    photo = ingest_file(clip, ml_settings).photo
    assert photo.media == "video"
    (r,) = Analyser(ml_settings).analyse([photo])
    assert r.error is None and {"decode", "clip", "faces"} <= set(r.stages)
    assert r.faces >= 1
    p = Photo.get_by_id(photo.id)
    assert blob_to_vec(p.embedding).shape == (16,)
    box = Face.get(Face.photo == p)
    assert 0 <= box.x < 1 and 0 <= box.y < 1


def test_the_bytes_of_a_video_decode_as_on_disk(ml_settings, tmp_path):
    """The Ray path sends a photo's bytes, not its path: a video's poster decodes the same."""
    import io

    clip = make_video(tmp_path / "v.mov", seconds=1)
    from_disk = imaging.open_upright(clip, max_side=64)
    from_bytes = imaging.open_upright(io.BytesIO(clip.read_bytes()), max_side=64)
    assert isinstance(from_bytes, Image.Image) and from_bytes.size == from_disk.size
    assert np.abs(np.asarray(from_disk, float) - np.asarray(from_bytes, float)).max() == 0
