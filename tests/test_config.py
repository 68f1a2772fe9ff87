"""Settings: defaults work with zero configuration; TOML < env < flags; bad values are named."""

from __future__ import annotations

import pytest

from jaicat.config import load_settings
from jaicat.errors import InvalidInput


def test_zero_config_defaults(tmp_path):
    s = load_settings(data_dir=tmp_path, env={})
    assert s.library == tmp_path / "library" and s.db_path == tmp_path / "jaicat.db"
    assert s.port == 8787 and s.host == "0.0.0.0" and s.face_tolerance == 0.6


def test_precedence_toml_env_flags(tmp_path):
    (tmp_path / "jaicat.toml").write_text('port = 9000\ncopy_mode = true\nlibrary_dir = "/srv/photos"\n')
    s = load_settings(data_dir=tmp_path, env={})
    assert s.port == 9000 and s.copy_mode is True and str(s.library) == "/srv/photos"
    s = load_settings(data_dir=tmp_path, env={"JAICAT_PORT": "9100"})
    assert s.port == 9100
    s = load_settings(data_dir=tmp_path, env={"JAICAT_PORT": "9100"}, port=9200)
    assert s.port == 9200


def test_data_dir_from_environment(tmp_path):
    s = load_settings(env={"JAICAT_DATA_DIR": str(tmp_path / "d")})
    assert s.data_dir == tmp_path / "d"


@pytest.mark.parametrize("toml,msg", [
    ("port = 'abc'", "port"),
    ("nonsense = 1", "unknown key"),
    ("port = [", "jaicat.toml"),
])
def test_bad_config_is_a_clear_error(tmp_path, toml, msg):
    (tmp_path / "jaicat.toml").write_text(toml)
    with pytest.raises(InvalidInput, match=msg):
        load_settings(data_dir=tmp_path, env={})
