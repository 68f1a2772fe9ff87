"""What Jaicat reads from and writes into an XMP packet, with no catalogue involved.

Content is a plain dict:
  keywords      dc:subject (flat keywords)
  hierarchical  lr:hierarchicalSubject ("People|Amy H", '|' separated, Lightroom)
  tagslist      digiKam:TagsList ("People/Amy H", '/' separated: that is what digiKam writes and reads)
  description   dc:description x-default, or None
  dims          (w, h) stored pixel dimensions of mwg-rs:AppliedToDimensions, or None
  regions       [{name, type, x, y, w, h}] top-left x/y, normalised on the *stored* image
  rating        xmp:Rating (0-5; 5 = a favourite in Jaicat), or None

Writing merges: entries other tools added are kept, and so is a description written elsewhere. Jaicat records what it wrote last time in
jaicat:Owned (JSON), so an entry the user removed in Jaicat is removed from the sidecar too, while
an entry nobody in Jaicat ever wrote is left alone. Everything else in the packet is untouched.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from .geometry import centre_to_topleft, topleft_to_centre
from .packet import (
    RDF_LI,
    Packet,
    add_array,
    add_lang_alt,
    add_struct,
    field,
    fnum,
    get,
    items_of,
    q,
    strings,
    struct,
    text,
)

SUBJECT, HIER, TAGSLIST = q("dc:subject"), q("lr:hierarchicalSubject"), q("digiKam:TagsList")
DESCRIPTION, REGIONS, MP_INFO, OWNED = (
    q("dc:description"), q("mwg-rs:Regions"), q("MP:RegionInfo"), q("jaicat:Owned"))
RATING = q("xmp:Rating")
FAVOURITE_RATING = 5  # what digiKam, Lightroom, darktable and Immich show as the top star rating


def _rating(value) -> int | None:
    try:
        return int(float(text(value) or ""))
    except ValueError:
        return None
MATCH_TOLERANCE = 0.005  # normalised; boxes closer than this are the same region after a round trip


def _float(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _dims(regions_node) -> tuple[int, int] | None:
    d = struct(get(regions_node, q("mwg-rs:AppliedToDimensions"))) if regions_node is not None else None
    w, h = _float(field(d, q("stDim:w"))), _float(field(d, q("stDim:h")))
    return (int(w), int(h)) if w and h else None


def _mwg_region(li: ET.Element, dims) -> dict | None:
    node = struct(li)
    area = struct(get(node, q("mwg-rs:Area")))
    vals = [_float(field(area, q(f"stArea:{k}"))) for k in "xywh"]
    if area is None or any(v is None for v in vals):
        return None
    cx, cy, w, h = vals
    if (field(area, q("stArea:unit")) or "normalized").lower().startswith("pixel"):
        if not dims:
            return None
        cx, w, cy, h = cx / dims[0], w / dims[0], cy / dims[1], h / dims[1]
    x, y, w, h = centre_to_topleft(cx, cy, w, h)
    return {"name": field(node, q("mwg-rs:Name")) or "", "type": field(node, q("mwg-rs:Type")) or "",
            "x": x, "y": y, "w": w, "h": h}


def _mp_region(li: ET.Element) -> dict | None:
    node = struct(li)
    rect = field(node, q("MPReg:Rectangle"))
    try:
        x, y, w, h = (float(p) for p in (rect or "").split(","))
    except ValueError:
        return None
    return {"name": field(node, q("MPReg:PersonDisplayName")) or "", "type": "Face",
            "x": x, "y": y, "w": w, "h": h}


def same_region(a: dict, b: dict) -> bool:
    return (a.get("name") or "").casefold() == (b.get("name") or "").casefold() and all(
        abs(float(a[k]) - float(b[k])) <= MATCH_TOLERANCE for k in "xywh")


def _mwg_items(packet: Packet):
    node = struct(packet.find(REGIONS))
    return node, items_of(get(node, q("mwg-rs:RegionList"))) if node is not None else []


def _mp_items(packet: Packet):
    node = struct(packet.find(MP_INFO))
    return items_of(get(node, q("MPRI:Regions"))) if node is not None else []


def read_packet(packet: Packet) -> dict:
    """Jaicat's view of an XMP packet (see the module docstring for the shape)."""
    regions_node, mwg_lis = _mwg_items(packet)
    dims = _dims(regions_node)
    regions = [r for r in (_mwg_region(li, dims) for li in mwg_lis) if r]
    for r in (_mp_region(li) for li in _mp_items(packet)):
        if r and not any(same_region(r, o) for o in regions):
            regions.append(r)
    return {
        "keywords": strings(packet.find(SUBJECT)),
        "hierarchical": strings(packet.find(HIER)),
        "tagslist": strings(packet.find(TAGSLIST)),
        "description": text(packet.find(DESCRIPTION)) or None,
        "dims": dims,
        "regions": regions,
        "rating": _rating(packet.find(RATING)),
    }


def _owned(packet: Packet) -> dict:
    try:
        data = json.loads(text(packet.find(OWNED)) or "{}")
        return data if isinstance(data, dict) else {}
    except ValueError:
        return {}


def _merge(ours: list[str], existing: list[str], previously_ours: list[str]) -> list[str]:
    out = list(dict.fromkeys(ours))
    gone = set(previously_ours)
    out += [e for e in dict.fromkeys(existing) if e not in gone and e not in out]
    return out


def _foreign(lis, parse, ours: list[dict], previously_ours: list[dict]) -> list[ET.Element]:
    """Region entries written by another tool (kept verbatim) rather than by Jaicat."""
    keep = []
    for li in lis:
        r = parse(li)
        if r is None or not any(same_region(r, o) for o in [*ours, *previously_ours]):
            keep.append(li)
    return keep


def _add_mwg(desc: ET.Element, dims, regions: list[dict], foreign: list[ET.Element]) -> None:
    regs = add_struct(desc, REGIONS)
    if dims:
        ET.SubElement(regs, q("mwg-rs:AppliedToDimensions"), {
            q("stDim:w"): str(int(dims[0])), q("stDim:h"): str(int(dims[1])), q("stDim:unit"): "pixel"})
    bag = ET.SubElement(ET.SubElement(regs, q("mwg-rs:RegionList")), q("rdf:Bag"))
    for li in foreign:
        bag.append(li)
    for r in regions:
        li = ET.SubElement(bag, RDF_LI, {q("rdf:parseType"): "Resource"})
        cx, cy, w, h = topleft_to_centre(r["x"], r["y"], r["w"], r["h"])
        ET.SubElement(li, q("mwg-rs:Area"), {
            q("stArea:x"): fnum(cx), q("stArea:y"): fnum(cy), q("stArea:w"): fnum(w), q("stArea:h"): fnum(h),
            q("stArea:unit"): "normalized"})
        if r.get("name"):
            ET.SubElement(li, q("mwg-rs:Name")).text = r["name"]
        ET.SubElement(li, q("mwg-rs:Type")).text = r.get("type") or "Face"


def _add_mp(desc: ET.Element, regions: list[dict], foreign: list[ET.Element]) -> None:
    info = add_struct(desc, MP_INFO)
    bag = ET.SubElement(ET.SubElement(info, q("MPRI:Regions")), q("rdf:Bag"))
    for li in foreign:
        bag.append(li)
    for r in regions:
        li = ET.SubElement(bag, RDF_LI, {q("rdf:parseType"): "Resource"})
        ET.SubElement(li, q("MPReg:Rectangle")).text = ", ".join(fnum(r[k]) for k in "xywh")
        if r.get("name"):
            ET.SubElement(li, q("MPReg:PersonDisplayName")).text = r["name"]


def _round(r: dict) -> dict:
    return {"name": r.get("name") or "", "type": r.get("type") or "Face",
            **{k: float(fnum(float(r[k]))) for k in "xywh"}}


def update_packet(packet: Packet, content: dict) -> Packet:
    """Write Jaicat's `content` into `packet` in place (merging, see module docstring); returns it."""
    prev = _owned(packet)
    regions = [_round(r) for r in content.get("regions", [])]
    dims, mwg_foreign, mp_foreign = _foreign_regions(packet, content, regions, prev)
    lists, ours = _keyword_lists(packet, content, prev)
    old_description = packet.find(DESCRIPTION)
    old_rating = _rating(packet.find(RATING))
    rating = content.get("rating")
    new_rating = _new_rating(rating, old_rating, prev.get("rating"))

    for prop in (SUBJECT, HIER, TAGSLIST, REGIONS, MP_INFO, OWNED):
        packet.remove(prop)
    desc = packet.main_description()
    if new_rating != old_rating:
        packet.remove(RATING)
        if new_rating is not None:
            desc.set(RATING, str(new_rating))
    for key, prop in (("keywords", SUBJECT), ("hierarchical", HIER), ("tagslist", TAGSLIST)):
        if lists[key]:
            add_array(desc, prop, lists[key])
    write_description = _write_description(packet, desc, content.get("description"), old_description, prev)
    _add_regions(desc, dims, regions, mwg_foreign, mp_foreign)
    owned = dict(ours)
    if write_description:
        owned["description"] = content["description"]
    owned["regions"] = regions
    if rating is not None and new_rating == rating:
        owned["rating"] = rating
    ET.SubElement(desc, OWNED).text = json.dumps(owned, ensure_ascii=False, separators=(",", ":"))
    return packet


def _foreign_regions(packet: Packet, content: dict, regions: list[dict],
                     prev: dict) -> tuple[tuple | None, list[ET.Element], list[ET.Element]]:
    """(dims, MWG items, MP items) for the regions: the dimensions to write and the region items of
    other tools that stay (those Jaicat wrote before, or writes now, are dropped)."""
    prev_regions = [r for r in prev.get("regions", []) if isinstance(r, dict) and all(k in r for k in "xywh")]
    regions_node, mwg_lis = _mwg_items(packet)
    dims = content.get("dims") or _dims(regions_node)
    mwg_foreign = _foreign(mwg_lis, lambda li: _mwg_region(li, dims), regions, prev_regions)
    mp_foreign = _foreign(_mp_items(packet), _mp_region, [r for r in regions if r["type"] == "Face"],
                          prev_regions)
    return dims, mwg_foreign, mp_foreign


def _keyword_lists(packet: Packet, content: dict, prev: dict) -> tuple[dict, dict]:
    """(merged list, Jaicat's own entries) per keyword field: "keywords", "hierarchical", "tagslist"."""
    lists, ours = {}, {}
    for key, prop, sep in (("keywords", SUBJECT, ""), ("hierarchical", HIER, "|"), ("tagslist", TAGSLIST, "/")):
        existing, mine = strings(packet.find(prop)), content.get(key, [])
        if sep:  # a flat keyword another tool already files deeper ("Places|Paris") is not repeated as "Paris"
            deeper = {e.rsplit(sep, 1)[-1] for e in existing if sep in e and e not in prev.get(key, [])}
            mine = [m for m in mine if sep in m or m not in deeper]
        ours[key] = mine
        lists[key] = _merge(mine, existing, prev.get(key, []))
    return lists, ours


def _new_rating(rating: int | None, old: int | None, ours_before: int | None) -> int | None:
    """The star to leave: a rating someone set elsewhere is theirs (a higher one than Jaicat's wins);
    Jaicat only removes the one it wrote."""
    if rating is not None:
        return rating if old is None or old == ours_before or old < rating else old
    return None if old is not None and old == ours_before else old


def _write_description(packet: Packet, desc: ET.Element, description: str | None, old, prev: dict) -> bool:
    """Write Jaicat's description unless someone wrote another elsewhere (a machine caption never
    replaces it); True when written."""
    existing = text(old)
    if not description or (existing and existing != prev.get("description")):
        return False
    packet.remove(DESCRIPTION)
    add_lang_alt(desc, DESCRIPTION, description, keep=None if isinstance(old, str) else old)
    return True


def _add_regions(desc: ET.Element, dims, regions: list[dict], mwg_foreign: list[ET.Element],
                 mp_foreign: list[ET.Element]) -> None:
    """The MWG region list (every region) and the Microsoft Photo one (faces only), each with the
    other tools' items kept."""
    if regions or mwg_foreign:
        _add_mwg(desc, dims, regions, mwg_foreign)
    mp_regions = [r for r in regions if r["type"] == "Face"]
    if mp_regions or mp_foreign:
        _add_mp(desc, mp_regions, mp_foreign)
