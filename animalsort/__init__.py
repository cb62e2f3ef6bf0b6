"""animalsort: sort photos by animal with pretrained PyTorch models.

The Python API (the command line is one client of it)::

    import animalsort

    df = animalsort.classify("~/photos", model="lite0", top_k=3)   # DataFrame = the CSV
    for row in animalsort.iter_classify("~/photos", batch_size=64):  # streaming, flat memory
        ...
    clf = animalsort.Classifier("lite1")                              # load once
    clf.predict([pil_image, "cat.jpg", numpy_array])                  # → DataFrame, no files
    plan = animalsort.sort("~/photos", move=True, dry_run=True).plan  # what would move where
    animalsort.tag("~/photos/preds.csv")                             # XMP keywords, sidecars
    animalsort.export("preds.csv", "pkg", "camtrap-dp", timezone="UTC")  # Camtrap DP, MegaDetector, COCO-CT
    run = animalsort.finetune("./mydata", out="runs/pets")            # metrics, run folder
    animalsort.audit_sample("preds.csv", size=200)                    # a sample to check → preds.sample.csv
    animalsort.audit_report("preds.csv").accuracy                     # estimates with 95% intervals

Importing the package stays light (no torch): each function loads what it needs when called.
"""

from animalsort._api import (
    Classifier,
    SortResult,
    audit_report,
    audit_sample,
    classify,
    export,
    finetune,
    iter_classify,
    sort,
    tag,
    undo,
)
from animalsort._version import __version__

__all__ = [
    "Classifier",
    "SortResult",
    "__version__",
    "audit_report",
    "audit_sample",
    "classify",
    "export",
    "finetune",
    "iter_classify",
    "sort",
    "tag",
    "undo",
]
