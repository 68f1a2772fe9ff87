"""Text from users that reaches XML (sidecars) or the file system (folder names): one spelling and no
control characters, checked where it comes in (API, CLI, importers), never inside the writers.

A name typed on a Mac arrives decomposed (NFD: "e" + U+0301) and the same name from a phone composed
(NFC: "é"); both are stored as NFC, so they are one folder, one person, one tag. C0 controls and DEL
(U+0000-U+001F, U+007F) are refused: XML 1.0 cannot hold most of them (a sidecar with one is no longer
XML) and in a file name they hide what the name is."""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidText

_CONTROL = re.compile("[\x00-\x1f\x7f]")


def plain_text(value, what: str) -> str:
    """`value` in NFC; InvalidText (400 invalid_text) if it is not a string or holds a control character.
    `what` names the field in the message ("tag", "person name")."""
    if not isinstance(value, str):
        raise InvalidText(f"{what} must be text")
    m = _CONTROL.search(value)
    if m:
        raise InvalidText(f"{what} {value[:40]!r} contains a control character (U+{ord(m.group()):04X}); "
                          "remove it and try again", field=what)
    return unicodedata.normalize("NFC", value)


def nfc(value: str) -> str:
    """The NFC spelling of `value` (names compared across spellings: folders on disk, lookups)."""
    return unicodedata.normalize("NFC", value)
