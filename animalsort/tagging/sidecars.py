"""Which sidecar belongs to a photo: ``IMG_0001.CR2.xmp`` (digiKam, darktable) or
``IMG_0001.xmp`` (Lightroom), one already there of either naming first.

Names are compared exactly first. A sidecar whose name differs from the photo's only in
case (``IMG_0002.XMP`` beside ``IMG_0002.jpg``, as cameras and some tools write) is the
photo's too — unless another file in the folder has exactly that name's photo name
(``IMG_0001.jpg.xmp`` is ``IMG_0001.jpg``'s, never ``img_0001.jpg``'s, on a file system
where both photos can exist). Where the file system ignores case, two names that differ
only in case are one file: :meth:`Sidecars.key` says so, so it is written once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from animalsort.atomic import name_fits

NAMINGS = ("full", "stem")
_EXT = ".xmp"


def sidecar_names(photo: str) -> dict[str, str]:
    """The sidecar's name under each naming."""
    name = os.path.basename(photo)
    return {"full": name + _EXT, "stem": os.path.splitext(name)[0] + _EXT}


@dataclass
class _Listing:
    names: set[str]
    folded: dict[str, list[str]] = field(default_factory=dict)  # casefold → names
    claimed: set[str] = field(default_factory=set)  # the files' names and stems (sidecars aside)
    ignores_case: bool = False


def _ignores_case(folder: str, names: set[str]) -> bool:
    """Whether the folder's file system takes a name in another case for the same file:
    one entry with letters, looked up with its case swapped."""
    for name in names:
        swapped = name.swapcase()
        if swapped != name and swapped not in names:
            try:
                return os.path.samestat(os.lstat(os.path.join(folder, name)), os.lstat(os.path.join(folder, swapped)))
            except OSError:
                return False
    return False


class Sidecars:
    """Sidecar lookups for many photos, each folder listed once."""

    def __init__(self) -> None:
        self._folders: dict[str, _Listing] = {}

    def _listing(self, folder: str) -> _Listing:
        if folder not in self._folders:
            try:
                names = set(os.listdir(folder or "."))
            except OSError:
                names = set()
            listing = _Listing(names, ignores_case=_ignores_case(folder or ".", names))
            for name in names:
                listing.folded.setdefault(name.casefold(), []).append(name)
                if not name.casefold().endswith(_EXT):
                    listing.claimed.update((name, os.path.splitext(name)[0]))
            self._folders[folder] = listing
        return self._folders[folder]

    def find(self, photo: str, naming: str) -> tuple[str, bool]:
        """(the sidecar to write for ``photo``, whether it exists): an existing one of either
        naming (the chosen naming first), else a new one of the chosen naming."""
        folder, name = os.path.split(photo)
        listing = self._listing(folder)
        names = sidecar_names(photo)
        order = (naming, *(n for n in NAMINGS if n != naming))
        for n in order:
            if names[n] in listing.names:
                return os.path.join(folder, names[n]), True
        for n in order:
            for found in listing.folded.get(names[n].casefold(), []):
                if listing.ignores_case or self._is_ours(found, name, listing):
                    return os.path.join(folder, found), True
        return os.path.join(folder, names[naming]), False

    @staticmethod
    def _is_ours(sidecar: str, photo_name: str, listing: _Listing) -> bool:
        """A sidecar whose name matches the photo's only when case is ignored: ours when its
        photo part is exactly ours (only ``.XMP``'s case differs), or no other file has it."""
        base = sidecar[: -len(_EXT)]
        return base in (photo_name, os.path.splitext(photo_name)[0]) or base not in listing.claimed

    def key(self, path: str) -> str:
        """What names one file among the targets: ``path`` itself, case-folded where the
        folder's file system ignores case, and a symbolic link by what it points to."""
        real = os.path.realpath(path)
        folder, name = os.path.split(real)
        return os.path.join(folder, name.casefold()) if self._listing(folder).ignores_case else real


def sidecar_for(photo: str, naming: str) -> tuple[str, bool]:
    """:meth:`Sidecars.find` for one photo."""
    return Sidecars().find(photo, naming)


def name_too_long(sidecar: str) -> str | None:
    """Why a new sidecar cannot have this name (longer than its file system takes), or None."""
    if name_fits(sidecar):
        return None
    size = len(os.fsencode(os.path.basename(sidecar)))
    return (
        f"its sidecar's name would be {size} bytes, more than this file system takes: "
        "--sidecar-name stem names it after the photo without its extension, or shorten the photo's name"
    )
