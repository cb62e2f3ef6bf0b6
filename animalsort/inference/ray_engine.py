"""``classify --engine ray``: the same classification on a Ray cluster, with Ray Data.

paths → batches of paths (cut here by ``data.chunks``, in discovery order, exactly as the local
engine cuts them) → ``map_batches`` decode (CPU tasks, the local engine's decoder) →
``map_batches`` inference in an actor pool (one model per actor, a GPU each when asked) →
results streamed back in order and written by the same CSV writer. Same batches, same
decoder, same model code: the CSV is the local engine's, byte for byte.

Ray is an optional extra: ``pip install 'animalsort[ray]'``. Without ``--ray-address`` a
local one-node cluster is started (and stopped) for the run.

With ``--detections`` each batch of paths carries its files' entries of the JSON (the decode
tasks crop the boxes; the detections file itself stays with the driver, which writes the rows).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animalsort.errors import UsageError

if TYPE_CHECKING:
    from animalsort.formats.detections import Detections, Entry
    from animalsort.inference.batches import ImageStream
    from animalsort.inference.options import ClassifyOptions
    from animalsort.inference.scoring import Scored
    from animalsort.sources.listing import Listable
    from animalsort.sources.preprocess import Preprocessing


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError(
            "--engine ray needs Ray Data, which is not installed: pip install 'animalsort[ray]' "
            "(or use the default --engine local)"
        ) from None
    return ray


def _decode(
    rows: dict[str, Any], root: str, pre: dict[str, Any], draft: bool, video: list[float] | None, view: str
) -> dict[str, Any]:
    """Ray task: each row holds one batch of paths → its decoded uint8 batch and its
    ``BatchRows`` (pickled)."""
    import numpy as np

    stream = _stream(root, pre, draft, video, view)
    described, images = [], []
    for k, paths in enumerate(rows["paths"]):
        if "entries" in rows:
            stream.detections = _entries_from(json.loads(rows["entries"][k])).get
        b = stream.make_batch(json.loads(paths))
        described.append(pickle.dumps(b.rows))
        images.append(b.images.numpy())
    return {"batch": rows["batch"], "rows": np.array(described, dtype=object), "images": np.stack(images)}


def _stream(root: str, pre: dict[str, Any], draft: bool, video: list[float] | None, view: str) -> ImageStream:
    """The local engine's decoder for paths under ``root`` (they come with the rows)."""
    from animalsort.inference.batches import ImageStream
    from animalsort.sources.listing import Listing
    from animalsort.sources.preprocess import Preprocessing, Preprocessor
    from animalsort.sources.video import Sampling

    sampling = Sampling(video[0], int(video[1])) if video else None
    preprocessor = Preprocessor(Preprocessing.from_dict(pre), draft)
    return ImageStream(Listing(Path(root), ()), preprocessor, batch_size=1, video=sampling, view=view)


class _Infer:
    """Ray actor: one model per actor (on its GPU when it has one); decoded batch → top-k."""

    def __init__(self, options: dict[str, Any], top_k: int):
        import torch

        from animalsort.inference.scoring import Scorer
        from animalsort.model import load

        # an actor given a GPU runs torch on it (--runtime says how the CPU actors run); one without, the CPU
        device = "cuda" if options["num_gpus_per_actor"] and torch.cuda.is_available() else options["device"]
        if device == "auto":
            device = "cpu"
        loaded = load.load(
            options["model"],
            options["weights"],
            labels=options["labels"],
            device=device,
            precision=options["precision"],
            runtime=options["runtime"] if device == "cpu" else "torch",
            progress=False,
            look=options["view"] != "centre",
            only=tuple(options["only"]),
            exclude=tuple(options["exclude"]),
        )
        closer = _stream(options["root"], options["pre"], options["draft"], None, options["view"]).closer
        self.score = Scorer(loaded, top_k, options["video_rows"], closer)

    def __call__(self, rows: dict[str, Any]) -> dict[str, Any]:
        """Decoded batches → their ``Scored`` (pickled: the driver formats the rows)."""
        import numpy as np
        import torch

        scored = []
        for described, images in zip(rows["rows"], rows["images"]):
            x = torch.from_numpy(np.ascontiguousarray(images)).to(self.score.loaded.device)
            scored.append(pickle.dumps(self.score(x, pickle.loads(described))))
        return {"batch": rows["batch"], "scored": np.array(scored, dtype=object)}


def score(
    listing: Listable,
    opts: ClassifyOptions,
    pre: Preprocessing,
    top_k: int,
    done: list[str],
    progress: bool,
    found: Detections | None = None,
) -> Iterator[Scored]:
    """Scored batches, in order, computed on a Ray cluster."""
    ray = _ray()
    from animalsort.inference.batches import chunks

    started = _connect(ray, opts, progress)
    try:
        skip = set(done)
        paths = (p for p in listing if p not in skip)
        cut = chunks(paths, opts.batch_size, opts.sampling())
        batches = [{"batch": k, "paths": json.dumps(c)} for k, c in enumerate(cut)]
        if found is not None:
            for b in batches:
                b["entries"] = json.dumps(_entries_of(found, json.loads(b["paths"])))
        if not batches:
            return
        for row in _dataset(ray, batches, listing, opts, pre, top_k).iter_rows():
            yield pickle.loads(row["scored"])
    finally:
        if started:
            ray.shutdown()


def _entries_of(found: Detections, paths: list[str]) -> dict[str, Any]:
    """The listed files' entries among ``paths``, as JSON: what a decode task crops."""
    out = {}
    for rel in paths:
        entry = found.peek(rel)
        if entry is not None:
            boxes = [[d.category, d.conf, list(d.bbox), d.frame_s] for d in entry.detections]
            out[rel] = [entry.problem, boxes]
    return out


def _entries_from(data: dict[str, Any]) -> dict[str, Entry]:
    from animalsort.formats.detections import Detection, Entry

    return {
        rel: Entry(rel, 0, rel, tuple(Detection(c, conf, tuple(b), t) for c, conf, b, t in boxes), problem=problem)
        for rel, (problem, boxes) in data.items()
    }


def _connect(ray: Any, opts: ClassifyOptions, progress: bool) -> bool:
    """Join the cluster at ``--ray-address``, or start a one-node one; True when started here
    (and so to be shut down here). Ray Data keeps the batches in order."""
    from animalsort.machine import default_workers

    started = False
    if not ray.is_initialized():
        quiet = {"log_to_driver": False, "include_dashboard": False, "logging_level": logging.ERROR}
        if opts.ray_address:
            ray.init(address=opts.ray_address, **quiet)
        else:
            ray.init(num_cpus=max(2, default_workers() + 1), **quiet)
        started = True
    logging.getLogger("ray.data").setLevel(logging.WARNING if progress else logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = progress
    return started


def _dataset(
    ray: Any, batches: list[dict[str, Any]], listing: Listable, opts: ClassifyOptions, pre: Preprocessing, top_k: int
) -> Any:
    """The Ray Data pipeline: decode tasks (one CPU each) → a pool of inference actors."""
    sampling = opts.sampling()
    options = {
        "model": opts.model,
        "weights": str(opts.weights) if opts.weights else None,
        "labels": opts.labels,
        "device": opts.device,
        "precision": opts.precision,
        "runtime": opts.runtime,
        "num_gpus_per_actor": opts.num_gpus_per_actor,
        "video_rows": opts.video_rows,
        "view": opts.view,
        "only": list(opts.only),
        "exclude": list(opts.exclude),
        "root": str(listing.root),
        "pre": pre.to_dict(),
        "draft": opts.draft,
    }
    ds = ray.data.from_items(batches, override_num_blocks=min(len(batches), 64))
    ds = ds.map_batches(
        _decode,
        fn_kwargs={
            "root": str(listing.root),
            "pre": pre.to_dict(),
            "draft": opts.draft,
            "video": [sampling.every, sampling.max_frames] if sampling else None,
            "view": opts.view,
        },
        batch_size=1,
        num_cpus=1,
        **_decode_env(),
    )
    return ds.map_batches(
        _Infer,
        fn_constructor_args=(options, top_k),
        batch_size=1,
        concurrency=max(1, opts.ray_actors),
        num_gpus=opts.num_gpus_per_actor or 0,
        num_cpus=1,
    )


def _decode_env() -> dict[str, Any]:
    """The decode tasks run where the cluster puts them: a raised pixel limit goes with them."""
    from animalsort.sources.decode import MAX_MEGAPIXELS_ENV

    limit = os.environ.get(MAX_MEGAPIXELS_ENV)
    return {"runtime_env": {"env_vars": {MAX_MEGAPIXELS_ENV: limit}}} if limit else {}
