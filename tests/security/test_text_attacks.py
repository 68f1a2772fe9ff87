"""Text that reaches XML or the file system: control characters are refused with a clear 400 (they
made a sidecar that is no longer XML), and NFC/NFD spellings of one name are one folder, one person,
one tag (a Mac types "é" as e + U+0301)."""

from __future__ import annotations

import hashlib
import unicodedata
import xml.etree.ElementTree as ET

import pytest
from fixtures.hostile import jpeg

from jaicat.errors import InvalidInput
from jaicat.people import persons
from jaicat.photos import tags

CONTROLS = ["a\u0000b", "a\u0001b", "a\u001fb", "a\u007fb"]


def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


@pytest.fixture(scope="module")
def filed(live_server):
    data = jpeg(301)
    r = live_server.post("/api/uploads", json={"filename": "x.jpg", "size": len(data),
                                               "sha256": hashlib.sha256(data).hexdigest()})
    r = live_server.request("PATCH", f"/api/uploads/{r.json()['id']}?offset=0", data=data)
    pid = r.json()["photo_id"]
    r = live_server.post(f"/api/review/{pid}/fix", json={"folder": "Text", "create": True})
    assert r.status_code == 200, r.text
    return r.json()["photo"]


# --- 4. control characters --------------------------------------------------------------------------
@pytest.mark.parametrize("bad", CONTROLS)
def test_4_a_tag_with_a_control_character_is_refused_and_the_sidecar_stays_xml(live_server, filed, bad):
    r = live_server.request("PATCH", f"/api/photos/{filed['id']}", json={"tags": [bad], "favourite": True})
    assert r.status_code == 400 and r.json()["error"] == "invalid_text", r.text
    assert "control character" in r.json()["message"]
    r = live_server.post(f"/api/photos/{filed['id']}/tags", json={"add": [bad]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_text", r.text
    # later changes still reach the sidecar, and it parses
    assert live_server.request("PATCH", f"/api/photos/{filed['id']}", json={"tags": ["fine"]}).status_code == 200
    sidecar = live_server.settings.library / (filed["path"] + ".xmp")
    if sidecar.exists():
        ET.fromstring(sidecar.read_bytes())


@pytest.mark.parametrize("bad", CONTROLS)
def test_4_region_labels_and_folder_names_with_control_characters_are_refused(live_server, filed, bad):
    r = live_server.post(f"/api/photos/{filed['id']}/regions",
                         json={"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2, "label": bad})
    assert r.status_code == 400 and r.json()["error"] == "invalid_text", r.text
    r = live_server.post("/api/folders", json={"path": f"Ok/{bad}"})
    assert r.status_code == 400 and r.json()["error"] in ("invalid_text", "invalid_folder_name"), r.text


@pytest.mark.parametrize("bad", CONTROLS)
def test_4_person_names_with_control_characters_are_refused(settings, bad):
    with pytest.raises(InvalidInput) as e:
        persons.person_named(bad)
    assert e.value.code == "invalid_text"


# --- 7. one name, two Unicode spellings -------------------------------------------------------------------
def test_7_nfc_and_nfd_folder_names_are_one_folder(live_server):
    name = "Café/Élodie"
    a = live_server.post("/api/folders", json={"path": name})
    b = live_server.post("/api/folders", json={"path": nfd(name)})
    assert a.status_code == 201 and b.status_code == 201, (a.text, b.text)
    assert a.json()["path"] == b.json()["path"] == name
    on_disk = sorted(p.name for p in live_server.settings.library.iterdir() if p.name.startswith("Caf"))
    assert on_disk == ["Café"], on_disk
    assert [p.name for p in (live_server.settings.library / "Café").iterdir()] == ["Élodie"]


def test_7_a_folder_made_on_disk_in_nfd_is_found_by_its_nfc_name(live_server, filed):
    (live_server.settings.library / nfd("Crème")).mkdir()
    r = live_server.post("/api/photos/move", json={"ids": [filed["id"]], "folder": "Crème"})
    assert r.status_code == 200, r.text
    on_disk = sorted(p.name for p in live_server.settings.library.iterdir() if p.name.startswith("Cr"))
    assert on_disk == [nfd("Crème")], on_disk  # filed into the user's folder, no second one made
    assert any(p.name == "x.jpg" for p in (live_server.settings.library / nfd("Crème")).iterdir())


def test_7_nfd_person_and_tag_names_are_the_nfc_ones(settings):
    first = persons.person_named("Émile")
    assert persons.person_named(nfd("Émile")).id == first.id
    assert persons.find_person(nfd("émile")).id == first.id
    assert persons.person_named(nfd("Zoë")).name == "Zoë"
    assert tags.clean_tag(nfd("Crème brûlée")) == "Crème brûlée"
