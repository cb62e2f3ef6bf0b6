"""Keywords in XMP (and IPTC), read and written with libexiv2 — the engine digiKam and
darktable use — through python-exiv2 (the ``exiv2`` package), never by hand.

python-exiv2 rather than pyexiv2: it exposes exiv2's typed values, so ``dc:subject`` and
``lr:hierarchicalSubject`` stay ``rdf:Bag``s and ``digiKam:TagsList`` an ``rdf:Seq``, as each
reader expects (pyexiv2 writes every list as an ``rdf:Seq``).

What is ours is recorded in our own namespace: the keywords we added to each field. A second
run takes out exactly those and adds the new ones, so a person's keywords — and every other
field — are never removed, changed or reordered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "http://ns.animalsort.org/xmp/1.0/"
PREFIX = "animalsort"

SUBJECT = "Xmp.dc.subject"
HIERARCHY = "Xmp.lr.hierarchicalSubject"
TAGS_LIST = "Xmp.digiKam.TagsList"
IPTC_KEYWORDS = "Iptc.Application2.Keywords"
IPTC_CHARSET = "Iptc.Envelope.CharacterSet"
UTF8_CHARSET = "\x1b%G"

#: Our record: the row's answer and provenance (text), and what we added to each field (bags).
RECORD_FIELDS = ("label", "confidence", "reviewed", "model", "weightsSha256", "version", "taggedAt", "labels")
ADDED = {
    SUBJECT: f"Xmp.{PREFIX}.subjectAdded",
    HIERARCHY: f"Xmp.{PREFIX}.hierarchyAdded",
    TAGS_LIST: f"Xmp.{PREFIX}.tagsListAdded",
    IPTC_KEYWORDS: f"Xmp.{PREFIX}.iptcAdded",
}

#: An empty XMP packet: what a new sidecar starts from (exiv2 fills it).
EMPTY_PACKET = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>\n'
    "</x:xmpmeta>\n"
    '<?xpacket end="w"?>'
).encode()

SIDECAR_MIME = "application/rdf+xml"  # what exiv2 calls an XMP sidecar

_setup_lock = threading.Lock()
_ready = False


class MetadataError(Exception):
    """A file whose metadata exiv2 cannot read or write (the message says why)."""


def exiv2_module() -> Any:
    """python-exiv2, with our namespace registered and its log quiet (errors become exceptions)."""
    global _ready
    import exiv2

    with _setup_lock:
        if not _ready:
            exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)
            try:
                exiv2.XmpProperties.ns(PREFIX)
            except exiv2.Exiv2Error:
                exiv2.XmpProperties.registerNs(NAMESPACE, PREFIX)
            _ready = True
    return exiv2


@dataclass(frozen=True)
class Tags:
    """What one photo should carry: keywords (flat), paths (``|``-separated), and our record."""

    keywords: tuple[str, ...]
    paths: tuple[str, ...]
    record: dict[str, str] = field(default_factory=dict)


def open_bytes(data: bytes) -> Any:
    """An exiv2 image over ``data`` with its metadata read, or MetadataError."""
    exiv2 = exiv2_module()
    try:
        image = exiv2.ImageFactory.open(data)
        image.readMetadata()
    except exiv2.Exiv2Error as exc:
        raise MetadataError(_reason(exc)) from None
    return image


def image_bytes(image: Any) -> bytes:
    """The bytes of an exiv2 image over memory, after ``writeMetadata``."""
    io = image.io()
    io.open()
    try:
        return bytes(io.mmap())
    finally:
        io.munmap()
        io.close()


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text[0].lower() + text[1:] if text else type(exc).__name__


def can_hold(image: Any, what: str) -> bool:
    """Whether exiv2 can write ``what`` ("xmp" or "iptc") into this image's format."""
    exiv2 = exiv2_module()
    md = {"xmp": exiv2.MetadataId.mdXmp, "iptc": exiv2.MetadataId.mdIptc}[what]
    mode = image.checkMode(md)
    return mode in (exiv2.AccessMode.amWrite, exiv2.AccessMode.amReadWrite)


def _bag(xmp: Any, key: str) -> list[str] | None:
    """The items of an XMP array property, or None when it is absent."""
    exiv2 = exiv2_module()
    pos = xmp.findKey(exiv2.XmpKey(key))
    if pos == xmp.end():
        return None
    value = pos.getValue()
    return [value.toString(i) for i in range(value.count())]


def _text(xmp: Any, key: str) -> str | None:
    exiv2 = exiv2_module()
    pos = xmp.findKey(exiv2.XmpKey(key))
    return None if pos == xmp.end() else pos.toString()


def _set_array(xmp: Any, key: str, items: Iterable[str], kind: str) -> None:
    exiv2 = exiv2_module()
    items = list(items)
    pos = xmp.findKey(exiv2.XmpKey(key))
    if pos != xmp.end():
        xmp.erase(pos)
    if not items:
        return
    type_id = {"bag": exiv2.TypeId.xmpBag, "seq": exiv2.TypeId.xmpSeq}[kind]
    value = exiv2.XmpArrayValue(type_id)
    for item in items:
        value.read(item)
    xmp.add(exiv2.XmpKey(key), value)


def _array_kind(xmp: Any, key: str, default: str) -> str:
    """Keep an existing array's kind (a Seq someone wrote stays a Seq)."""
    exiv2 = exiv2_module()
    pos = xmp.findKey(exiv2.XmpKey(key))
    if pos == xmp.end():
        return default
    return {exiv2.TypeId.xmpSeq: "seq", exiv2.TypeId.xmpBag: "bag"}.get(pos.typeId(), default)


def has_record(image: Any) -> bool:
    """Whether an earlier run of animalsort tagged this file."""
    return _text(image.xmpData(), f"Xmp.{PREFIX}.label") is not None


def tagged_at(image: Any) -> str | None:
    """When an earlier run tagged this file (our record's ``taggedAt``), or None."""
    return _text(image.xmpData(), f"Xmp.{PREFIX}.taggedAt")


def _items(image: Any) -> list[tuple[str, str, str]]:
    xmp_items = [(d.key(), d.typeName() or "", d.toString()) for d in image.xmpData()]
    iptc_items = [(d.key(), "", d.toString()) for d in image.iptcData()]
    return sorted(xmp_items) + iptc_items


def same_metadata(a: Any, b: Any) -> bool:
    """Whether two images hold the same XMP properties (values and array kinds; the order of
    properties aside, the order inside each array counts) and the same IPTC."""
    return _items(a) == _items(b)


def _merge_list(current: list[str], ours_before: Iterable[str], new: Iterable[str]) -> tuple[list[str], list[str]]:
    """``current`` without what we added before, then ``new`` items not already there:
    (the list, the items we added)."""
    ours_before = set(ours_before)
    kept = [item for item in current if item not in ours_before]
    added = [item for item in dict.fromkeys(new) if item not in kept]
    return kept + added, added


def apply_tags(image: Any, tags: Tags, *, iptc: bool) -> None:
    """Replace what an earlier run added with ``tags`` in ``image``'s XMP (and IPTC keywords
    when ``iptc``); everything else stays as it is. Before adding, a file with only one of
    ``lr:hierarchicalSubject`` and ``digiKam:TagsList`` gets the other seeded from it, so a
    person's tags show in darktable (which reads the first) and digiKam (the second) alike."""
    exiv2 = exiv2_module()
    xmp = image.xmpData()
    # The packet exiv2 read is dropped on write: the XMP is serialised from the data again.
    image.writeXmpFromPacket(False)
    hierarchy, tags_list = _bag(xmp, HIERARCHY), _bag(xmp, TAGS_LIST)
    added_before = {f: _bag(xmp, key) or [] for f, key in ADDED.items()}
    if hierarchy is not None and tags_list is None:
        tags_list = [p.replace("|", "/") for p in hierarchy if p not in added_before[HIERARCHY]]
    elif tags_list is not None and hierarchy is None:
        hierarchy = [p.replace("/", "|") for p in tags_list if p not in added_before[TAGS_LIST]]
    fields = {
        SUBJECT: (_bag(xmp, SUBJECT) or [], tags.keywords, "bag"),
        HIERARCHY: (hierarchy or [], tags.paths, "bag"),
        TAGS_LIST: (tags_list or [], [p.replace("|", "/") for p in tags.paths], "seq"),
    }
    for key, (current, new, kind) in fields.items():
        merged, added = _merge_list(current, added_before[key], new)
        _set_array(xmp, key, merged, _array_kind(xmp, key, kind))
        _set_array(xmp, ADDED[key], added, "bag")
    for name in RECORD_FIELDS:
        key = exiv2.XmpKey(f"Xmp.{PREFIX}.{name}")
        pos = xmp.findKey(key)
        if pos != xmp.end():
            xmp.erase(pos)
        if tags.record.get(name):
            xmp[f"Xmp.{PREFIX}.{name}"] = tags.record[name]
    if iptc:
        _apply_iptc(image, added_before[IPTC_KEYWORDS], tags.keywords)
    else:
        _set_array(xmp, ADDED[IPTC_KEYWORDS], [], "bag")


def _apply_iptc(image: Any, ours_before: list[str], new: Iterable[str]) -> None:
    exiv2 = exiv2_module()
    iptc = image.iptcData()
    current = [d.toString() for d in iptc if d.key() == IPTC_KEYWORDS]
    merged, added = _merge_list(current, ours_before, new)
    xmp = image.xmpData()
    _set_array(xmp, ADDED[IPTC_KEYWORDS], added, "bag")
    if merged == current:
        return
    _set_iptc_keywords(image, merged)
    if added and not all(k.isascii() for k in added) and not any(d.key() == IPTC_CHARSET for d in iptc):
        iptc.add(exiv2.IptcKey(IPTC_CHARSET), exiv2.Value.create(exiv2.TypeId.undefined))
        iptc[IPTC_CHARSET] = UTF8_CHARSET


def _set_iptc_keywords(image: Any, keywords: list[str]) -> None:
    exiv2 = exiv2_module()
    iptc = image.iptcData()
    pos = iptc.findKey(exiv2.IptcKey(IPTC_KEYWORDS))
    while pos != iptc.end():
        iptc.erase(pos)
        pos = iptc.findKey(exiv2.IptcKey(IPTC_KEYWORDS))
    for keyword in keywords:
        value = exiv2.StringValue(keyword)
        iptc.add(exiv2.IptcKey(IPTC_KEYWORDS), value)


def write(image: Any) -> bytes:
    """Write the image's metadata (in memory) and return the file's new bytes."""
    exiv2 = exiv2_module()
    if image.mimeType() == SIDECAR_MIME:
        # exiv2 reads a sidecar's XMP into Exif and IPTC copies too, and on writing converts
        # those back over the XMP (IPTC Keywords → dc:subject would undo a removal). They are
        # only copies of the XMP here: drop them, and the XMP is written as we left it.
        image.clearExifData()
        image.clearIptcData()
    try:
        image.writeMetadata()
    except exiv2.Exiv2Error as exc:
        raise MetadataError(_reason(exc)) from None
    return image_bytes(image)
