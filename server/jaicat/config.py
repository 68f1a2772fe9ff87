"""One Settings object. Precedence: embedded defaults < TOML file < JAICAT_* environment < CLI flags.

The data directory holds everything Jaicat owns (catalogue, inbox, thumbnails, models, certificates);
the library is the user's own folder tree, by default `<data_dir>/library`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

from .errors import InvalidInput

DEFAULT_DATA_DIR = "./jaicat-data"


MODEL_RUNTIMES = ("auto", "torch", "onnx", "onnx-int8")  # setting model_runtime (models/exported.py)
AUTO_FILE_MAX = 0.5  # the highest target error rate auto_file takes


def parse_auto_file(value) -> float | None:
    """The `auto_file` setting: "off" (or false) -> None, else a target error rate in (0, AUTO_FILE_MAX].
    InvalidInput naming the key otherwise."""
    if value is False or (isinstance(value, str) and value.strip().lower() in ("off", "false")):
        return None
    try:
        rate = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        rate = None
    if rate is None or not 0.0 < rate <= AUTO_FILE_MAX:  # NaN fails both comparisons
        raise InvalidInput(f"auto_file: expected off or a target error rate above 0 and at most "
                           f"{AUTO_FILE_MAX} (e.g. 0.05), not {value!r}")
    return rate


def auto_file_text(rate: float | None) -> str:
    """How the setting is kept and shown: "off" or the rate ("0.05")."""
    return "off" if rate is None else f"{rate:g}"


@dataclass
class Settings:
    """All configuration. Every key is documented in the README (tests/test_docs.py checks it)."""

    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    library_dir: Path | None = None  # default: <data_dir>/library
    host: str = "0.0.0.0"
    port: int = 8787
    copy_mode: bool = False  # keep the inbox original in place when filing (copy instead of move)
    max_pixels: int = 250_000_000  # decompression-bomb limit; a 200 MP phone photo must still pass
    max_upload_bytes: int = 16 * 1024**3  # a phone records 4K video at ~0.4 GB a minute: 40 minutes
    upload_expire_hours: float = 24.0
    max_concurrent_uploads: int = 8  # per device
    thumb_sizes: tuple = (256, 1280)
    zeroconf: bool = True
    https: bool = False
    log_requests: bool = True
    pwa_dir: Path | None = None  # default: the pwa/ folder of the source checkout
    # map tiles the phone loads itself (the server stays offline); "" turns the map off
    map_tiles: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    language: str = "en"  # the household's language for post ideas: en, de, fr, es
    # machine learning
    device: str = "auto"  # auto | cpu | cuda
    model_runtime: str = "auto"  # auto | torch | onnx | onnx-int8 (image towers; models/exported.py)
    clip_model: str = "openai/clip-vit-base-patch32"
    caption_model: str = "Salesforce/blip-image-captioning-base"
    models_dir: Path | None = None  # default: <data_dir>/models
    batch_size: int = 16
    tag_top_k: int = 5
    tag_threshold: float = 0.15
    vocabulary_file: Path | None = None  # extra user tag words, one per line
    captions: bool = True
    face_model: str = "auto"  # auto (one pass: yunet, else hog; thorough pass: measured) | yunet | hog | cnn | onnx
    face_onnx_model: str = "immich-app/buffalo_l"  # the SCRFD detector `jaicat models pull` fetches
    face_tolerance: float = 0.6
    face_max_side: int = 1000  # one pass: the detector on a copy downscaled to this long side (1000: a 12 MP JPEG decodes at 1/4)
    face_min_px: int = 24  # thorough pass: smallest face (px on the full photo) it looks for
    face_thorough_mpx: float = 140.0  # thorough pass: most detector work per photo, megapixels
    face_thorough: bool = True  # run the thorough pass in the background
    worker: bool = True
    warm_models: bool = True  # the worker loads and runs its models once as it starts
    ray_address: str = ""  # "" analyses in this process; "local", "auto", "HOST:6379" or "ray://HOST:10001"
    ray_workers: int = 0  # analysis actors on the Ray cluster (0: one per GPU, else one per two CPUs)
    suggest_top_k: int = 3
    # "off", or a target error rate: photos whose first choice is that sure file themselves (suggest/autofiler.py)
    auto_file: str = "off"

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        if self.library_dir is not None:
            self.library_dir = Path(self.library_dir).expanduser()
        if self.models_dir is not None:
            self.models_dir = Path(self.models_dir).expanduser()
        if self.vocabulary_file is not None:
            self.vocabulary_file = Path(self.vocabulary_file).expanduser()
        self.thumb_sizes = tuple(int(s) for s in self.thumb_sizes)
        self.model_runtime = str(self.model_runtime).strip().lower()
        if self.model_runtime not in MODEL_RUNTIMES:
            raise InvalidInput(f"config key 'model_runtime': expected one of {', '.join(MODEL_RUNTIMES)}, "
                               f"not {self.model_runtime!r}")
        self.auto_file = auto_file_text(parse_auto_file(self.auto_file))

    @property
    def auto_file_rate(self) -> float | None:
        """The auto_file target error rate, None when off."""
        return parse_auto_file(self.auto_file)

    # derived paths -------------------------------------------------------------------------------
    @property
    def library(self) -> Path:
        return self.library_dir if self.library_dir is not None else self.data_dir / "library"

    @property
    def inbox(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def thumbs(self) -> Path:
        return self.data_dir / "thumbs"

    @property
    def uploads(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "jaicat.db"

    @property
    def models(self) -> Path:
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    @property
    def trash(self) -> Path:
        """Trashed photos wait here (inside the data dir, never in the user's tree) until emptied."""
        return self.data_dir / "trash"

    @property
    def tmp(self) -> Path:
        return self.data_dir / "tmp"

    def ensure_dirs(self) -> None:
        for d in (self.data_dir, self.library, self.inbox, self.thumbs, self.uploads, self.tmp, self.trash):
            d.mkdir(parents=True, exist_ok=True)

    def root_path(self, root: str) -> Path:
        """The directory a Photo.root name ("inbox", "library" or "trash") refers to."""
        if root == "library":
            return self.library
        if root == "inbox":
            return self.inbox
        if root == "trash":
            return self.trash
        raise ValueError(f"unknown root {root!r}")


def _coerce(name: str, raw, typ):
    """Turn a TOML/env value into the field's type, with a clear error naming the key."""
    try:
        if typ is bool or typ == "bool":
            if isinstance(raw, bool):
                return raw
            s = str(raw).strip().lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if typ in (int, "int"):
            return int(raw)
        if typ in (float, "float"):
            return float(raw)
        if typ in ("tuple",):
            if isinstance(raw, str):
                return tuple(int(x) for x in raw.split(",") if x.strip())
            return tuple(int(x) for x in raw)
        return raw
    except (TypeError, ValueError):
        raise InvalidInput(f"config key {name!r}: cannot use value {raw!r}") from None


def _field_types() -> dict[str, str]:
    out = {}
    for f in fields(Settings):
        t = str(f.type)
        if t.startswith("bool"):
            out[f.name] = "bool"
        elif t.startswith("int"):
            out[f.name] = "int"
        elif t.startswith("float"):
            out[f.name] = "float"
        elif t.startswith("tuple"):
            out[f.name] = "tuple"
        else:
            out[f.name] = "str"
    return out


CONFIG_KEYS = tuple(f.name for f in fields(Settings))


def load_settings(
    data_dir: str | os.PathLike | None = None,
    config_file: str | os.PathLike | None = None,
    env: dict | None = None,
    **overrides,
) -> Settings:
    """Build Settings from defaults, `<data_dir>/jaicat.toml` (or `config_file`), env and overrides.

    Overrides whose value is None are ignored, so CLI flags can be passed straight through.
    """
    env = os.environ if env is None else env
    types = _field_types()
    values: dict = {}
    ddir = data_dir or env.get("JAICAT_DATA_DIR") or DEFAULT_DATA_DIR
    cfg = Path(config_file or env.get("JAICAT_CONFIG") or Path(ddir) / "jaicat.toml")
    if config_file and not cfg.is_file():
        raise InvalidInput(f"config file not found: {cfg}")
    if cfg.is_file():
        try:
            doc = tomllib.loads(cfg.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise InvalidInput(f"config file {cfg}: {e}") from None
        doc = doc.get("jaicat", doc)
        for k, v in doc.items():
            if k not in types:
                raise InvalidInput(f"config file {cfg}: unknown key {k!r}")
            values[k] = _coerce(k, v, types[k])
    for k, t in types.items():
        ev = env.get("JAICAT_" + k.upper())
        if ev is not None and ev != "":
            values[k] = _coerce(k, ev, t)
    for k, v in overrides.items():
        if v is None:
            continue
        if k not in types:
            raise InvalidInput(f"unknown setting {k!r}")
        values[k] = v
    values["data_dir"] = Path(data_dir) if data_dir else Path(values.get("data_dir", ddir))
    return Settings(**values)


def settings_dict(settings: Settings) -> dict:
    """Settings as plain JSON-able values (for `jaicat doctor` and the backup)."""
    out = {}
    for k, v in dataclasses.asdict(settings).items():
        out[k] = str(v) if isinstance(v, Path) else (list(v) if isinstance(v, tuple) else v)
    return out
