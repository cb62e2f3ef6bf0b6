"""A generator for a hostile folder: every kind of bad input classify must survive.

``make_hostile_folder(root)`` writes the files and returns, for each relative path that must
get a row, the expected status and (for errors) a piece of the expected reason.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "photos"


def _png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header claims width × height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _jpeg_with_corrupt_exif(src: Path) -> bytes:
    data = (src).read_bytes()
    garbage = b"Exif\0\0" + b"MM\0\x2a\0\0\0\x08" + b"\xff\xee" * 20  # a TIFF header pointing at junk
    app1 = b"\xff\xe1" + struct.pack(">H", len(garbage) + 2) + garbage
    return data[:2] + app1 + data[2:]


def make_hostile_folder(root: Path, *, as_root: bool | None = None) -> dict[str, tuple[str, str]]:
    """Write the hostile folder; return {relative path: (status, reason fragment)}."""
    root.mkdir(parents=True, exist_ok=True)
    cat = (EXAMPLES / "cat.jpg").read_bytes()
    dog = Image.open(EXAMPLES / "dog.jpg")
    expected: dict[str, tuple[str, str]] = {}

    def put(rel: str, data: bytes, status: str = "ok", reason: str = "") -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        expected[rel] = (status, reason)

    def save(rel: str, img: Image.Image, status: str = "ok", reason: str = "", **kw: object) -> None:
        buf = io.BytesIO()
        img.save(buf, **kw)
        put(rel, buf.getvalue(), status, reason)

    put("good/cat.jpg", cat)
    shutil.copy(EXAMPLES / "squirrel.jpg", root / "good" / "squirrel.jpg")
    expected["good/squirrel.jpg"] = ("ok", "")
    put("bad/zero_bytes.jpg", b"", "error", "empty file (0 bytes)")
    for cut in (2, 200, len(cat) // 3, len(cat) - 100):
        put(f"bad/truncated_{cut}.jpg", cat[:cut], "error", "")
    put("bad/random_bytes.jpg", np.random.default_rng(0).bytes(4000), "error", "not a readable image")
    save("odd/png_named.jpg", dog, format="PNG")
    put("bad/bomb.png", _png_with_declared_size(40_000, 40_000), "error", "too large to decode")
    save("odd/cmyk.jpg", dog.convert("CMYK"), format="JPEG")
    save("odd/grey16.png", Image.fromarray(np.asarray(dog.convert("L"), dtype=np.uint16) * 257), format="PNG")
    save("odd/grey.png", dog.convert("L"), format="PNG")
    pal = dog.convert("P", palette=Image.Palette.ADAPTIVE)
    save("odd/palette_transparent.png", pal, format="PNG", transparency=0)
    rgba = dog.convert("RGBA")
    rgba.putalpha(128)
    save("odd/rgba.png", rgba, format="PNG")
    frames = [dog.convert("RGB"), Image.new("RGB", dog.size, (0, 0, 255))]
    save("odd/animated.gif", frames[0], format="GIF", save_all=True, append_images=frames[1:], duration=100)
    save("odd/multipage.tif", frames[0], format="TIFF", save_all=True, append_images=frames[1:])
    exif = dog.getexif()
    exif[0x0112] = 6
    save("odd/exif_rotated.jpg", dog, format="JPEG", exif=exif, quality=92)
    put("odd/corrupt_exif.jpg", _jpeg_with_corrupt_exif(EXAMPLES / "squirrel.jpg"))
    # names
    for name in ("new\nline.jpg", "comma,name.jpg", 'quote"d.jpg', "emoji 🦊.jpg", "x" * 246 + ".jpg"):
        put(f"names/{name}", cat)
    # file system oddities
    (root / "fs").mkdir()
    os.symlink("does-not-exist.jpg", root / "fs" / "broken_link.jpg")
    expected["fs/broken_link.jpg"] = ("error", "file not found")
    os.symlink("loop.jpg", root / "fs" / "loop.jpg")
    expected["fs/loop.jpg"] = ("error", "symlink loop")
    os.symlink(root / "good" / "cat.jpg", root / "fs" / "good_link.jpg")
    expected["fs/good_link.jpg"] = ("ok", "")
    (root / "fs" / "folder.jpg").mkdir()  # a directory with an image name: a folder, not a row
    shutil.copy(EXAMPLES / "cat.jpg", root / "fs" / "folder.jpg" / "inside.jpg")
    expected["fs/folder.jpg/inside.jpg"] = ("ok", "")
    as_root = os.geteuid() == 0 if as_root is None else as_root
    if not as_root:
        put("fs/unreadable.jpg", cat, "error", "permission denied")
        (root / "fs" / "unreadable.jpg").chmod(0)
    return expected


def good_files(expected: dict[str, tuple[str, str]]) -> list[str]:
    return [rel for rel, (status, _) in expected.items() if status == "ok"]
