"""The Python API: what a notebook calls, and what the command line calls.

Importing it (and so ``import animalsort``) stays free of torch: every function imports the
stage it runs when it is called. The stages compose here and nowhere else — ``sort`` is
"classify (or read a CSV), then place", so sorting itself never imports classification.
One module per operation: classifying, sorting (sort and undo), tagging, exporting,
training (finetune), auditing; common holds what they share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from animalsort._api.auditing import audit_report, audit_sample
from animalsort._api.classifying import Classifier, classify, iter_classify
from animalsort._api.exporting import export
from animalsort._api.sorting import SortResult, last_run, runs, sort, sort_folder, undo
from animalsort._api.tagging import tag, tag_folder
from animalsort._api.training import finetune

if TYPE_CHECKING:  # the result types the API reference documents as animalsort._api.<name>
    from animalsort.audit.operations import SampleResult  # noqa: F401
    from animalsort.audit.result import AuditResult  # noqa: F401
    from animalsort.exports.predictions_export import ExportResult  # noqa: F401
    from animalsort.sorting.undo import UndoResult  # noqa: F401
    from animalsort.tagging.tag_rows import TagResult  # noqa: F401
    from animalsort.tagging.undo import TagUndoResult  # noqa: F401
    from animalsort.training.options import FinetuneResult  # noqa: F401

__all__ = [
    "Classifier",
    "SortResult",
    "audit_report",
    "audit_sample",
    "classify",
    "export",
    "finetune",
    "iter_classify",
    "last_run",
    "runs",
    "sort",
    "sort_folder",
    "tag",
    "tag_folder",
    "undo",
]
