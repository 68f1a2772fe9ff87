"""XMP packets as ElementTree documents: parse, read RDF properties in any of their legal spellings,
and serialise back without losing namespaces, elements or attributes Jaicat does not know.

RDF allows one property to be written several ways (an attribute on rdf:Description, a child
element with text, a child with rdf:parseType="Resource", a child holding an rdf:Description, or a
child whose attributes are the struct fields). Readers here accept all of them; writers emit the
element form that exiftool, digiKam and darktable all read.
"""

from __future__ import annotations

import io
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
    "stArea": "http://ns.adobe.com/xmp/sType/Area#",
    "MP": "http://ns.microsoft.com/photo/1.2/",
    "MPRI": "http://ns.microsoft.com/photo/1.2/t/RegionInfo#",
    "MPReg": "http://ns.microsoft.com/photo/1.2/t/Region#",
    "darktable": "http://darktable.sf.net/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "jaicat": "http://ns.jaicat.org/xmp/1.0/",
}
XML_NS = "http://www.w3.org/XML/1998/namespace"
MAX_PACKET_BYTES = 16 * 1024 * 1024  # a sidecar bigger than this is not XMP we should be parsing

XPACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
XPACKET_END = '\n<?xpacket end="w"?>\n'


class XMPError(ValueError):
    """The bytes are not a readable XMP packet.

    A file-format parse error, like json.JSONDecodeError, so it lives with the parser rather than in
    jaicat/errors.py: it is no API error of its own (no HTTP status, no code); callers catch it and
    skip the file or report it (`jaicat xmp read`, `write_sidecars`' failed list)."""


def q(prefixed: str) -> str:
    """'dc:subject' -> '{http://purl.org/dc/elements/1.1/}subject' (Clark notation)."""
    prefix, local = prefixed.split(":", 1)
    return f"{{{NS[prefix]}}}{local}"


RDF_DESC, RDF_RDF, RDF_LI = q("rdf:Description"), q("rdf:RDF"), q("rdf:li")
RDF_PARSETYPE, RDF_ABOUT = q("rdf:parseType"), q("rdf:about")
CONTAINERS = (q("rdf:Bag"), q("rdf:Seq"), q("rdf:Alt"))


class Packet:
    """One XMP document: the element tree plus the prefixes its author chose."""

    def __init__(self, root: ET.Element, prefixes: dict[str, str] | None = None):
        self.root = root
        self.prefixes = prefixes or {}  # uri -> prefix, from the source document

    @classmethod
    def new(cls) -> Packet:
        root = ET.Element(q("x:xmpmeta"), {q("x:xmptk"): "Jaicat"})
        rdf = ET.SubElement(root, RDF_RDF)
        ET.SubElement(rdf, RDF_DESC, {RDF_ABOUT: ""})
        return cls(root)

    @classmethod
    def parse(cls, data: bytes) -> Packet:
        if len(data) > MAX_PACKET_BYTES:
            raise XMPError("XMP packet too large")
        data = _trim_to_xml(data)
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:  # XMP never needs them; entity tricks are refused
            raise XMPError("XMP packet with a DTD")
        prefixes: dict[str, str] = {}
        try:
            for _event, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):
                prefixes.setdefault(uri, prefix)
            parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
            parser.feed(data)
            root = parser.close()
        except ET.ParseError as e:
            raise XMPError(f"not well-formed XMP: {e}") from None
        if root.tag != RDF_RDF and root.find(RDF_RDF) is None and root.find(f".//{RDF_RDF}") is None:
            raise XMPError("no rdf:RDF element")
        return cls(root, prefixes)

    # reading ---------------------------------------------------------------------------------------
    @property
    def rdf(self) -> ET.Element:
        if self.root.tag == RDF_RDF:
            return self.root
        found = self.root.find(f".//{RDF_RDF}")
        assert found is not None
        return found

    def descriptions(self) -> list[ET.Element]:
        return [d for d in self.rdf if d.tag == RDF_DESC]

    def main_description(self) -> ET.Element:
        descs = self.descriptions()
        if descs:
            return descs[0]
        return ET.SubElement(self.rdf, RDF_DESC, {RDF_ABOUT: ""})

    def find(self, prop: str):
        """The property `prop` (Clark name) of the top-level resource: an element, a str
        (attribute form), or None."""
        for d in self.descriptions():
            v = get(d, prop)
            if v is not None:
                return v
        return None

    def remove(self, prop: str) -> None:
        """Drop every occurrence of a top-level property, in either spelling."""
        for d in self.descriptions():
            d.attrib.pop(prop, None)
            for child in [c for c in d if c.tag == prop]:
                d.remove(child)

    # writing ---------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        ET.indent(self.root, space=" ")
        uris: list[str] = []
        for el in self.root.iter():
            for name in [el.tag, *el.attrib]:
                if isinstance(name, str) and name.startswith("{"):
                    uri = name[1:].split("}", 1)[0]
                    if uri != XML_NS and uri not in uris:
                        uris.append(uri)
        names: dict[str, str] = {}
        taken: set[str] = set()
        default = {v: k for k, v in NS.items()}
        for uri in uris:
            prefix = self.prefixes.get(uri) or default.get(uri) or ""
            if not prefix or prefix in taken or prefix == "xml":
                base, n = prefix or "ns", 1
                while f"{base}{n}" in taken:
                    n += 1
                prefix = f"{base}{n}"
            names[uri] = prefix
            taken.add(prefix)
        out: list[str] = [XPACKET_BEGIN]
        _serialise(self.root, names, out, declare=True)
        out.append(XPACKET_END)
        return "".join(out).encode("utf-8")


def _trim_to_xml(data: bytes) -> bytes:
    """Embedded packets may carry padding or a leading BOM/garbage; keep from the first '<'."""
    start = data.find(b"<")
    if start < 0:
        raise XMPError("no XML in packet")
    return data[start:].rstrip(b"\x00 \t\r\n")


def _qname(name: str, names: dict[str, str]) -> str:
    if not name.startswith("{"):
        return name
    uri, local = name[1:].split("}", 1)
    if uri == XML_NS:
        return f"xml:{local}"
    return f"{names[uri]}:{local}"


def _serialise(el: ET.Element, names: dict[str, str], out: list[str], declare: bool = False) -> None:
    if el.tag is ET.Comment:
        out.append(f"<!--{el.text or ''}-->")
    elif el.tag is ET.ProcessingInstruction:
        out.append(f"<?{el.text or ''}?>")
    else:
        tag = _qname(el.tag, names)
        parts = [tag]
        if declare:
            parts += [f"xmlns:{p}={quoteattr(u)}" for u, p in names.items()]
        parts += [f"{_qname(k, names)}={quoteattr(v)}" for k, v in el.attrib.items()]
        if len(el) == 0 and not el.text:
            out.append("<" + " ".join(parts) + "/>")
        else:
            out.append("<" + " ".join(parts) + ">")
            if el.text:
                out.append(escape(el.text))
            for child in el:
                _serialise(child, names, out)
            out.append(f"</{tag}>")
    if el.tail:
        out.append(escape(el.tail))


# generic RDF readers --------------------------------------------------------------------------------
def get(node: ET.Element, prop: str):
    """Property of a struct/description node: attribute value (str), child element, or None."""
    if prop in node.attrib:
        return node.attrib[prop]
    return node.find(prop)


def struct(value) -> ET.Element | None:
    """The node holding a struct's fields, for any RDF spelling of the struct."""
    if value is None or isinstance(value, str):
        return None
    desc = value.find(RDF_DESC)
    return desc if desc is not None else value


def text(value) -> str | None:
    """A simple property's text; for a language alternative, the x-default (or first) entry."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    items = items_of(value)
    if items:
        for li in items:
            if li.get(f"{{{XML_NS}}}lang") == "x-default":
                return (li.text or "").strip()
        return (items[0].text or "").strip()
    if value.get(q("rdf:resource")) is not None:
        return value.get(q("rdf:resource"))
    return (value.text or "").strip()


def items_of(value) -> list[ET.Element]:
    """The rdf:li elements of an array property (Bag, Seq or Alt)."""
    if value is None or isinstance(value, str):
        return []
    for c in value:
        if c.tag in CONTAINERS:
            return [li for li in c if li.tag == RDF_LI]
    return []


def strings(value) -> list[str]:
    """An array of text values; a bare string property counts as a one-element array."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    items = items_of(value)
    if not items and (value.text or "").strip():
        return [value.text.strip()]
    return [(li.text or "").strip() for li in items if (li.text or "").strip()]


def field(node: ET.Element | None, prop: str) -> str | None:
    """A text field of a struct node."""
    if node is None:
        return None
    return text(get(node, prop))


# generic RDF writers --------------------------------------------------------------------------------
def add_array(parent: ET.Element, prop: str, values: list[str], kind: str = "rdf:Bag") -> ET.Element:
    el = ET.SubElement(parent, prop)
    container = ET.SubElement(el, q(kind))
    for v in values:
        ET.SubElement(container, RDF_LI).text = v
    return el


def add_lang_alt(parent: ET.Element, prop: str, value: str, keep: ET.Element | None = None) -> None:
    """Write an x-default language alternative, keeping other languages from `keep`."""
    el = ET.SubElement(parent, prop)
    alt = ET.SubElement(el, q("rdf:Alt"))
    li = ET.SubElement(alt, RDF_LI, {f"{{{XML_NS}}}lang": "x-default"})
    li.text = value
    for old in items_of(keep):
        if old.get(f"{{{XML_NS}}}lang") not in (None, "x-default"):
            alt.append(old)


def add_struct(parent: ET.Element, prop: str) -> ET.Element:
    return ET.SubElement(parent, prop, {RDF_PARSETYPE: "Resource"})


def fnum(v: float) -> str:
    """Numbers as exiftool writes them: fixed point, no exponent, trailing zeros dropped."""
    s = f"{v:.6f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers see the old file or the new one, never a torn one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
