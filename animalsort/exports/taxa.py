"""Which taxon each label names: the package's table (``animalsort/label_taxa.csv``, GBIF
backbone names for every animal label) and, for a fine-tuned model's own classes, a
``--taxa FILE.csv`` with columns ``label, scientificName, taxonRank`` (higher taxa optional:
``kingdom, phylum, class, order, family, genus``, and ``vernacularName``)."""

from __future__ import annotations

import csv
from pathlib import Path

from animalsort.errors import InputError
from animalsort.taxonomy import TAXON_RANKS, Taxon, label_taxa

NOT_ANIMALS = ("no_animal",)


class Taxa:
    def __init__(self, extra: Path | None = None):
        self.table: dict[str, Taxon] = dict(label_taxa())
        if extra is not None:
            self.table.update(read_taxa_file(extra))
        self.missing: dict[str, int] = {}  # label → rows that named it without a taxon

    def of(self, label: str) -> Taxon | None:
        """The label's taxon; a label without one is counted (see :meth:`check`)."""
        taxon = self.table.get(label)
        if taxon is None and label not in NOT_ANIMALS:
            self.missing[label] = self.missing.get(label, 0) + 1
        return taxon

    def check(self) -> None:
        if self.missing:
            named = ", ".join(f"{lab} ({n} rows)" for lab, n in sorted(self.missing.items()))
            raise InputError(
                f"no taxon for label(s) {named}: give them in --taxa FILE.csv "
                "(columns label, scientificName, taxonRank)"
            )


def read_taxa_file(path: Path) -> dict[str, Taxon]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"--taxa {path}: {exc.strerror or exc}") from None
    reader = csv.DictReader(text.splitlines())
    need = {"label", "scientificName", "taxonRank"}
    if not need <= set(reader.fieldnames or ()):
        raise InputError(f"--taxa {path} needs the columns {', '.join(sorted(need))}; it has {reader.fieldnames}")
    out: dict[str, Taxon] = {}
    for n, r in enumerate(reader, start=2):
        rank = (r.get("taxonRank") or "").strip()
        if rank not in TAXON_RANKS:
            raise InputError(f"--taxa {path} line {n}: taxonRank {rank!r} is not one of {', '.join(TAXON_RANKS)}")
        name = (r.get("scientificName") or "").strip()
        if not name:
            raise InputError(f"--taxa {path} line {n}: no scientificName for {r['label']!r}")
        out[r["label"].strip()] = Taxon(
            r["label"].strip(),
            name,
            rank,
            (r.get("kingdom") or "Animalia").strip(),
            (r.get("phylum") or "").strip(),
            (r.get("class") or "").strip(),
            (r.get("order") or "").strip(),
            (r.get("family") or "").strip(),
            (r.get("genus") or "").strip(),
            (r.get("vernacularName") or r["label"]).strip(),
        )
    return out
