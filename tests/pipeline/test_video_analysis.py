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


def test_a_videos_embedding_looks_at_keyframes_across_the_clip(ml_settings, tmp_path):
    """Tags and search see the whole clip: the embedding is the mean of the poster's and the keyframes'."""
    from jaicat.photos import video
    from jaicat.pipeline.analysis import VIDEO_KEYFRAMES, with_video_keyframes
    from jaicat.models.clip import shrink

    clip_file = make_video(tmp_path / "walk.mp4", seconds=4)  # its grey level changes over time
    analyser = Analyser(ml_settings)
    encoder = analyser.clip()
    poster = encoder.embed_images([shrink(video.poster(clip_file, 448))])
    (mixed,) = with_video_keyframes(encoder, [clip_file], poster)
    frames = encoder.embed_images([shrink(f) for f in video.keyframes(clip_file, VIDEO_KEYFRAMES, 448)])
    want = poster[0] + frames.sum(axis=0)
    assert np.allclose(mixed, want / np.linalg.norm(want), atol=1e-5)
    assert not np.allclose(mixed, poster[0], atol=1e-3)
    # a photo's row is left alone
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(photo)
    assert np.array_equal(with_video_keyframes(encoder, [photo], poster)[0], poster[0])


def test_the_ray_path_sends_a_video_s_poster_frame_not_the_video(ml_settings, tmp_path):
    """Workers on another PC get the poster frame the in-process analysis sees, as a small PNG."""
    import io

    from jaicat.pipeline.cluster import photo_bytes

    clip = make_video(tmp_path / "v.mp4", seconds=2, size=(320, 192))
    photo = ingest_file(clip, ml_settings).photo
    sent = photo_bytes(photo, ml_settings)
    assert sent[:8] == b"\x89PNG\r\n\x1a\n"
    poster = np.asarray(imaging.open_upright(clip, max_side=1600))
    assert np.array_equal(np.asarray(imaging.open_upright(io.BytesIO(sent), max_side=1600)), poster)
