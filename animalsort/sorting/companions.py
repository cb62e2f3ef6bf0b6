"""Files that travel with a photo: in one folder, the files that share its stem.

A photographer's folder holds ``IMG_0001.JPG`` beside its RAW twin ``IMG_0001.CR2``, the edit
sidecars photo managers write (``IMG_0001.xmp`` — Lightroom's naming for RAW files — and
``IMG_0001.CR2.xmp`` / ``IMG_0001.JPG.xmp`` — digiKam's and darktable's), an iPhone's
``IMG_0001.AAE`` and, for a Live Photo, ``IMG_0001.MOV``. Moved apart, a photo manager loses
the edits or the RAW. So ``sort`` moves a group as one: every member into the folder its
*primary* photo's label chooses, under names that keep the group's stem (a clash renames the
whole group: ``IMG_0001 (2).CR2`` keeps ``IMG_0001 (2).CR2.xmp``).

The primary is the camera's JPEG or HEIC when there is one, else another image, else the RAW;
the others are classified (they have rows) but go where the primary goes. Sidecars are never
classified. No torch.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from animalsort.sources.listing import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from animalsort.sources.raw import RAW_EXTENSIONS

#: Edit sidecars: XMP (Lightroom, darktable, digiKam, Capture One …), Apple's AAE, a camera's
#: THM thumbnail, RawTherapee's PP3, DxO's DOP, ON1's ON1.
SIDECAR_EXTENSIONS = frozenset({".xmp", ".aae", ".thm", ".pp3", ".dop", ".on1"})
#: The photos a camera or phone writes itself: a group's primary when present.
CAMERA_EXTENSIONS = frozenset({".jpg", ".jpeg", ".heic", ".heif", ".hif"})
LIVE_PHOTO_EXTENSIONS = frozenset({".mov", ".mp4"})  # a Live Photo's clip, beside its HEIC/JPEG


def _ext(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def group_key(name: str) -> str:
    """The stem a file shares with its group: a sidecar's extension is dropped, then a photo's
    or clip's (``IMG_0001.CR2.xmp`` → ``IMG_0001``; ``my.trip.jpg`` → ``my.trip``)."""
    base = name
    if _ext(base) in SIDECAR_EXTENSIONS:
        base = base[: -len(_ext(base))]
    if _ext(base) in IMAGE_EXTENSIONS | RAW_EXTENSIONS | VIDEO_EXTENSIONS:
        base = base[: -len(_ext(base))]
    return base


def is_photo_name(name: str) -> bool:
    return _ext(name) in IMAGE_EXTENSIONS | RAW_EXTENSIONS


def is_sidecar_name(name: str) -> bool:
    return _ext(name) in SIDECAR_EXTENSIONS


@dataclass
class Group:
    """The files of one folder that share a stem, with at least one photo among them."""

    folder: str
    key: str
    members: list[str] = field(default_factory=list)  # file names, sorted

    @property
    def primary(self) -> str:
        """The camera's JPEG/HEIC, else another image, else the RAW (first by name on a tie)."""
        photos = [m for m in self.members if is_photo_name(m)]
        for wanted in (CAMERA_EXTENSIONS, IMAGE_EXTENSIONS, RAW_EXTENSIONS):
            for m in photos:
                if _ext(m) in wanted:
                    return m
        raise AssertionError("a group always holds a photo")

    def companions(self) -> list[str]:
        """The members that travel with the primary: its RAW twin(s), sidecars and, beside a
        HEIC/JPEG, its Live Photo clip. Another image of the same stem (``IMG_0001.png``
        beside ``IMG_0001.jpg``) is a photo of its own, sorted by its own label."""
        primary = self.primary
        live = _ext(primary) in CAMERA_EXTENSIONS
        return [
            m
            for m in self.members
            if m != primary
            and (
                (_ext(m) in RAW_EXTENSIONS and _ext(primary) not in RAW_EXTENSIONS)
                or is_sidecar_name(m)
                or (live and _ext(m) in LIVE_PHOTO_EXTENSIONS)
            )
        ]

    def renamed(self, member: str, n: int) -> str:
        """``member`` as the n-th of its name: `` (n)`` right after the group's stem, so every
        member keeps the same new stem (``IMG_0001 (2).CR2.xmp``)."""
        return member if n == 1 else f"{self.key} ({n}){member[len(self.key) :]}"


class Groups:
    """The groups of the folders one plan touches, each folder read once (a plan's lifetime:
    the disk may change between two sorts)."""

    def __init__(self) -> None:
        self._folders: dict[str, dict[str, Group]] = {}
        self.orphans: list[str] = []  # sidecars with no photo of their stem, in the folders read

    def of(self, path: str) -> Group | None:
        """The group of the file at ``path``, when it has companions."""
        folder, name = os.path.split(path)
        if folder not in self._folders:
            self._folders[folder] = _read(folder, self.orphans)
        return self._folders[folder].get(group_key(name))


def _read(folder: str, orphans: list[str]) -> dict[str, Group]:
    """``folder``'s groups that have a companion, by stem (regular files only); sidecars
    without a photo are added to ``orphans`` (full paths)."""
    by_key: dict[str, list[str]] = {}
    try:
        with os.scandir(folder) as it:
            for entry in it:
                try:
                    if not stat.S_ISREG(entry.stat().st_mode):
                        continue
                except OSError:
                    continue
                by_key.setdefault(group_key(entry.name), []).append(entry.name)
    except OSError:
        return {}
    groups = {}
    for key, names in by_key.items():
        group = Group(folder, key, sorted(names))
        if not any(is_photo_name(n) for n in names):
            orphans.extend(os.path.join(folder, n) for n in sorted(names) if is_sidecar_name(n))
        elif group.companions():
            groups[key] = group
    return groups
