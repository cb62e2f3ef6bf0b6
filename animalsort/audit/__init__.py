"""``animalsort audit``: how right the labels of a predictions CSV are, from a person's check of
a stratified random sample of its rows (no torch, no click).

population (the rows as arrays, strata, answers) → sample (the design: allocation, seeded
orders) → intervals (Wilson with continuity correction, MOVER) → estimate (accuracy,
precision, missed animals, recall) and thresholds (per-label thresholds for a target
precision; ``--thresholds`` reads them with ``formats.thresholds``) → files (PREDS.csv and
SAMPLE.csv on disk, validation) → run (the two operations: draw or extend a sample, report on it).
"""
