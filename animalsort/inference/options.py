"""What a classify run is asked (``ClassifyOptions``, the sidecar's ``options``) and what it
reports (``Summary``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from animalsort.errors import UsageError
from animalsort.formats.detections import DEFAULT_THRESHOLD
from animalsort.sources.listing import Inventory
from animalsort.sources.video import DEFAULT_EVERY, DEFAULT_MAX_FRAMES, Sampling
from animalsort.taxonomy import label_list

LABEL_LISTS = ("only", "exclude")  # recorded only when given: a run without them records what it did before


def whole_number(name: str, value: object, least: int = 1) -> int:
    """``value`` when it is a whole number of at least ``least`` (a count the Python API was
    given: ``top_k``, ``batch_size``); else a UsageError with the value and the valid range."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UsageError(f"{name}={value!r}: give a whole number, {least} or more")
    return value


#: The options of ``--detections``: a run without a detections file records none of them, so
#: its sidecar is what it was before they existed.
DETECTION_OPTIONS = ("detections", "detection_threshold", "rows")


@dataclass
class ClassifyOptions:
    model: str | None = None
    weights: Path | None = None
    labels: str = "animals"
    device: str = "auto"
    precision: str = "auto"
    runtime: str = (
        "auto"  # auto | torch | onnx | openvino (auto: the fastest CPU runtime with fp32's answers; torch on a GPU)
    )
    batch_size: int = 32
    workers: int | str | None = None  # decode processes; None or "auto": measured (balance.py) on the CPU
    top_k: int = 3
    resume: bool = False
    draft: bool = True
    decode: str = "auto"  # where JPEGs are decoded: auto | cpu | gpu
    engine: str = "local"  # local | ray
    ray_address: str | None = None  # None: start a local one-node Ray cluster
    num_gpus_per_actor: float = 0.0
    ray_actors: int = 1  # inference actors in the Ray engine's pool (spread over the nodes)
    videos: bool = True  # classify video clips (frames sampled every video_every seconds)
    video_every: float = DEFAULT_EVERY
    video_max_frames: int = DEFAULT_MAX_FRAMES
    view: str = "frame"  # how much of each frame the model sees: centre | frame | tiles (preprocess.VIEW_MODES)
    video_rows: str = "videos"  # videos: one row per clip; frames: one per sampled frame
    sequences: float | None = None  # group bursts: photos within this many seconds (bursts.py)
    files_from: str | None = None  # a manifest of paths instead of folders ("-": stdin)
    root: Path | None = None  # what the manifest's relative paths are relative to
    shard: str | None = None  # "I/N": a deterministic 1/N of the listing (sources/manifests.py)
    detections: Path | None = None  # a MegaDetector batch JSON: each animal box's crop is classified (detected.py)
    detection_threshold: float = DEFAULT_THRESHOLD  # its detections at or above this count
    rows: str = "files"  # with detections: one row per file, or one per detection ("detections")
    only: tuple[str, ...] = ()  # the labels to answer with (all when empty); no_animal always stays
    exclude: tuple[str, ...] = ()  # labels never answered (taxonomy.LabelSet.restricted)

    def __post_init__(self) -> None:
        self.only, self.exclude = label_list(self.only), label_list(self.exclude)  # "fox,wolf" or a list

    def record(self) -> dict[str, Any]:
        """The sidecar's ``options``: every option (paths as text), the label lists when given,
        the detection options with a detections file."""
        return {
            k: str(v) if isinstance(v, Path) else v
            for k, v in asdict(self).items()
            if (k not in LABEL_LISTS or v) and (k not in DETECTION_OPTIONS or self.detections is not None)
        }

    @property
    def boxes(self) -> bool:
        """Whether rows carry a box (the box columns): where the answer came from, or the detector's."""
        return self.view != "centre" or self.detections is not None

    def sampling(self) -> Sampling | None:
        return Sampling(self.video_every, self.video_max_frames) if self.videos else None


def recorded_lists(meta: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The (only, exclude) lists a CSV's sidecar (``meta``) says it was classified with."""
    options = meta.get("options") or {}
    return label_list(options.get("only")), label_list(options.get("exclude"))


def check_label_lists(opts: ClassifyOptions, predictions: Path | None = None) -> None:
    """Refuse ``--only``/``--exclude`` that cannot work, before anything is loaded or made.

    Names a registry model cannot answer with are refused here (its labels are known without
    loading it; a ``--weights`` file's are checked once it is loaded: ``LabelSet.restricted``).
    With ``predictions`` (``sort --from CSV``) the lists must be the ones the CSV was classified
    with (then they are applied already): a CSV keeps each photo's top-k labels, not every
    label's probability that renormalising needs, so sorting from it would answer otherwise than
    classifying with the lists would; classifying with them is the fix."""
    given = (opts.only, opts.exclude)
    if not any(given):
        return
    if predictions is None:
        if opts.weights is None:
            from animalsort.model.registry import load_registry
            from animalsort.taxonomy import label_set

            known = load_registry()
            label_set(opts.labels, known.get(opts.model or known.default).labels).restricted(*given)
        return
    from animalsort.formats.predictions import read_sidecar

    made = recorded_lists(read_sidecar(predictions))
    if made != given:
        lists = label_lists(*given)
        raise UsageError(
            f"--from {predictions.name} with {lists}: it was classified with {label_lists(*made)}, and a CSV keeps "
            "each photo's top labels only, not the probability of every label that the lists share out; classify "
            f"with the lists (`animalsort sort SRC {lists}` without --from, or `animalsort classify SRC {lists} -o "
            f"{predictions.name}`)"
        )


def label_lists(only: tuple[str, ...], exclude: tuple[str, ...]) -> str:
    """The lists as a command line gives them (``--only fox,wolf``), or that there are none."""
    given = [f"{option} {','.join(names)}" for option, names in (("--only", only), ("--exclude", exclude)) if names]
    return " ".join(given) or "no --only/--exclude"


@dataclass
class Summary:
    found: int = 0
    ok: int = 0  # files (a clip counts once, whatever its rows)
    failed: int = 0
    videos: int = 0  # clips classified (of ``ok``)
    frames: int = 0  # their sampled frames
    windows: int = 0  # images the model saw (with --view frame or tiles, several a photo)
    resumed: int = 0  # rows kept from an earlier run (--resume)
    seconds: float = 0.0
    startup_seconds: float = 0.0  # model resolution and loading, before the first batch
    out: str | None = None
    model: str = ""
    device: str = ""
    precision: str = ""
    runtime: str = ""
    runtime_note: str = ""  # why the runtime asked for was not used, when it was not
    decode: str = "cpu"
    errors: list[tuple[str, str]] = field(default_factory=list)
    skipped: Inventory | None = None  # the files that are not images (by extension)
    sequences: dict[str, Any] | None = None  # with --sequences: what sequences.record says
    detections: dict[str, Any] | None = None  # with --detections: the file and its counts (detected.py)
    balance: dict[str, Any] | None = None  # --workers auto: what the probe measured and chose

    @property
    def images_per_s(self) -> float:
        return (self.ok + self.failed) / self.seconds if self.seconds > 0 else 0.0
