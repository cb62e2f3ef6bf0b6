"""The AnimalsortError family.

The core raises these; ``cli/common.py`` turns them into ``Error: …`` lines with the right exit code.
Every message says what happened, the values involved and what to do next.
"""

from __future__ import annotations


class AnimalsortError(Exception):
    """Base class. ``exit_code`` 1 is a runtime failure, 2 a usage error."""

    exit_code = 1


class UsageError(AnimalsortError):
    """The user asked for something that cannot work as given (bad path, bad name)."""

    exit_code = 2


class InputError(UsageError):
    """The input folder or file is missing, empty or unreadable."""


class NoImagesError(InputError):
    """The folder holds no image files (besides any excluded ones)."""


class RowPathError(InputError):
    """A CSV row's path that does not name a file inside the folder the CSV's paths are
    relative to (SRC): an absolute path elsewhere, a ``..`` segment, a folder that is a
    symlink leading out, a NUL character, a ``file://`` URI. The row is refused
    (``paths.RowPaths``)."""


class OutputError(AnimalsortError):
    """The output cannot be written (permissions, disk full, a resume that does not match)."""


class UnknownModelError(UsageError):
    """A model name that is not in the registry."""


class DeviceError(AnimalsortError):
    """The requested device or precision is not available on this machine."""


class WeightsError(AnimalsortError):
    """Weights that cannot be found, fetched, verified or loaded."""


class ChecksumError(WeightsError):
    """A file whose sha256 is not the one the registry promises."""


class DownloadError(WeightsError):
    """A download that failed after its retries."""


class RuntimeCheckError(AnimalsortError):
    """An ONNX graph that cannot be made or does not give torch's answers (or an int8
    graph that misses its gate)."""
