"""The analysis tasks and the model family that does each: analysis asks for a task by name and never
names a family (as Immich ML's `get_model_class` does). A new family is a module in this room and one
`register` line below; the setting it names holds the model's name (a hub id or a local folder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..config import Settings
from .base import InferenceModel
from .captioner import Captioner
from .clip import ClipEncoder


@dataclass(frozen=True)
class Task:
    """One analysis task: `name` (also the stage's key in logs and `skipped_stages`), the model class
    that performs it, the Settings field that names its model, what the stage gives (for the one log
    line when it is skipped), and whether the settings turn it on."""

    name: str
    model: type[InferenceModel]
    setting: str
    gives: str
    enabled: Callable[[Settings], bool] = lambda settings: True

    def model_name(self, settings: Settings) -> str:
        return getattr(settings, self.setting)


TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    if task.name in TASKS:
        raise ValueError(f"analysis task {task.name!r} is registered twice")
    TASKS[task.name] = task
    return task


def task(name: str) -> Task:
    """The registered task `name`; KeyError names the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"no analysis task {name!r} (known: {', '.join(sorted(TASKS))})") from None


register(Task("clip", ClipEncoder, "clip_model", "embeddings and tags"))
register(Task("caption", Captioner, "caption_model", "captions", enabled=lambda settings: settings.captions))
