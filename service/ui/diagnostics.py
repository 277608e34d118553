"""Scorer diagnostics as the model page shows them: one labelled table per scorer, units, a sentence each.

A scorer returns diagnostics beside its score (``ScoreResult.info``, stored per model in the ranking's
``info``): how the number was obtained, e.g. H-score's ``rank`` (how many eigen-directions of the feature
covariance it kept) or LogME's ``converged`` (the share of label columns whose evidence maximisation
converged). Raw, these read as a second ranking (``rank: 154`` beside the model's rank 1), so each known
key gets a label, a unit and a sentence (:data:`KNOWN`, by scorer then by key, with scorer-independent
meanings under ``"*"``). A key no entry describes is still shown, labelled from its name, so a new
scorer's diagnostics are never hidden. Nested values (PED's base scorer's own diagnostics) become rows
whose label names the parent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KNOWN",
    "DiagnosticRow",
    "DiagnosticTable",
    "Meaning",
    "describe",
    "diagnostic_tables",
    "format_value",
]


@dataclass(frozen=True)
class Meaning:
    """How to show one diagnostic: its label, the unit of its value ("" for none, ``%`` for a fraction
    shown as a percentage) and one sentence on what it means."""

    label: str
    unit: str
    sentence: str


@dataclass(frozen=True)
class DiagnosticRow:
    """One diagnostic as shown: ``key`` (as stored), label, formatted value with its unit, sentence."""

    key: str
    label: str
    value: str
    sentence: str


@dataclass(frozen=True)
class DiagnosticTable:
    """One scorer's diagnostics for one model."""

    scorer: str
    rows: tuple[DiagnosticRow, ...]


_DROPPED_SOURCE = Meaning(
    "Dropped source classes",
    "classes",
    "Source classes that received no probability mass on this dataset; they are left out of the "
    "conditional distribution.",
)
_PCA_DIMS = Meaning(
    "PCA dimensions used", "dimensions", "Feature dimensions kept by PCA before the score was computed."
)

#: scorer name -> key -> meaning; ``"*"`` holds meanings shared by every scorer.
KNOWN: dict[str, dict[str, Meaning]] = {
    "*": {
        "dropped_source_classes": _DROPPED_SOURCE,
        "pca_dims": _PCA_DIMS,
        "shrinkage": Meaning(
            "Shrinkage",
            "",
            "Weight of the shrinkage target in the covariance estimate (0: the plain sample covariance).",
        ),
    },
    "logme": {
        "converged": Meaning(
            "Converged label columns",
            "%",
            "Share of the one-vs-rest label columns whose evidence maximisation met its stopping rule; "
            "below 100 % the score is an approximation.",
        ),
    },
    "hscore": {
        "rank": Meaning(
            "Covariance directions kept",
            "directions",
            "Eigen-directions of the feature covariance kept by the pseudo-inverse (a matrix rank, not "
            "the model's position in the ranking).",
        ),
    },
    "hscore_shrinkage": {
        "shrinkage": Meaning(
            "Shrinkage α",
            "",
            "Ledoit–Wolf weight of the scaled identity in the feature covariance (0: none, 1: all).",
        ),
    },
    "probe_cv": {
        "log_loss": Meaning(
            "Held-out log loss",
            "nats per image",
            "Mean cross-entropy of the linear probe on the held-out folds (lower: more confident and right).",
        ),
        "c_chosen": Meaning(
            "Regularisation C per fold",
            "",
            "Inverse L2 strength picked by the inner cross-validation in each outer fold.",
        ),
        "rank": Meaning(
            "Feature rank",
            "dimensions",
            "Linearly independent feature directions the probe was trained on (a matrix rank, not the "
            "model's position in the ranking).",
        ),
        "folds": Meaning("Folds", "folds", "Outer cross-validation folds the accuracy is averaged over."),
    },
    "ridge_loo": {
        "alpha": Meaning(
            "Ridge penalty α",
            "",
            "Penalty per sample on unit-variance features that minimises the leave-one-out squared error.",
        ),
        "moved": Meaning(
            "Samples at another penalty",
            "images",
            "Images whose own held-out error would move the chosen penalty, so they were predicted at the "
            "penalty the other images choose.",
        ),
        "press": Meaning(
            "Leave-one-out squared error",
            "",
            "Mean squared error of the held-out one-hot predictions at the chosen penalties (lower: better).",
        ),
        "path_accuracy": Meaning(
            "Accuracy along the penalty path",
            "",
            "Leave-one-out accuracy at each penalty of the path, smallest first; the score does not take "
            "their maximum, which would be optimistic.",
        ),
        "rank": Meaning(
            "Feature rank",
            "dimensions",
            "Eigen-directions of the standardised features above the noise floor (a matrix rank, not the "
            "model's position in the ranking).",
        ),
        "hscore": Meaning(
            "H-score from the same decomposition",
            "",
            "The hscore scorer's value on the same features, read off the eigendecomposition the probe "
            "already computed.",
        ),
    },
    "sfda": {
        "stage1_shrinkage": Meaning(
            "Shrinkage λ", "", "Regularisation of the within-class scatter in the Fisher projection."
        ),
        "lambda_max": Meaning(
            "Largest eigenvalue", "", "Largest eigenvalue of the within-class scatter (λ's scale)."
        ),
        "solver": Meaning("Solver", "", "Linear-algebra routine used for the projection."),
    },
    "transrate": {
        "rate_all": Meaning(
            "Coding rate, all images", "nats", "Coding rate R(F) of the features of every image together."
        ),
        "rate_classes": Meaning(
            "Coding rate within classes",
            "nats",
            "Mean coding rate of each class's features; the score is the first rate minus this one.",
        ),
    },
    "nleep": {
        "pca_components": Meaning(
            "PCA components", "dimensions", "Feature dimensions kept by PCA before the mixture fit."
        ),
        "mixture_components": Meaning(
            "Mixture components", "components", "Gaussian components that stand in for source classes."
        ),
        "covariance_type": Meaning("Covariance type", "", "Shape of each component's covariance."),
        "iterations": Meaning("EM iterations", "iterations", "Iterations of the mixture fit."),
        "converged": Meaning("Converged", "", "Whether the mixture fit met its tolerance."),
        "dropped_components": Meaning(
            "Dropped components", "components", "Mixture components no image was assigned to."
        ),
        "estimated_seconds": Meaning("Estimated time", "s", "Time the fit was expected to take."),
        "estimated_mib": Meaning("Estimated memory", "MiB", "Memory the fit was expected to need."),
    },
    "parc": {
        "samples": Meaning(
            "Images compared", "images", "Images whose pairwise dissimilarities were compared."
        ),
        "subsampled": Meaning("Subsampled", "", "Whether the images were subsampled to bound the cost."),
        "dims": Meaning("Dimensions", "dimensions", "Feature dimensions after PCA."),
    },
    "ped": {
        "accepted_steps": Meaning(
            "Accepted steps", "steps", "Physics-inspired steps that moved the features before scoring."
        ),
        "step_displacements": Meaning(
            "Step displacements", "standardised L1", "How far each accepted step moved the features."
        ),
        "standardisation": Meaning(
            "Standardisation", "", "Statistics the features were standardised with (source or target)."
        ),
        "base": Meaning("Base scorer", "", "Scorer applied to the moved features."),
        "base_params": Meaning("Base scorer parameters", "", "Parameters the base scorer ran with."),
        "base_info": Meaning("Base scorer", "", "Diagnostics of the base scorer."),
    },
    "tmi": {
        "kept_classes": Meaning("Classes used", "classes", "Classes the entropy estimate averages over."),
        "dropped_classes": Meaning(
            "Dropped classes", "classes", "Classes too small for a nearest-neighbour estimate."
        ),
        "singleton_classes": Meaning("Single-image classes", "classes", "Classes with one image only."),
        "fraction_floored": Meaning(
            "Distances floored",
            "%",
            "Share of nearest-neighbour distances raised to the minimum distance (duplicates).",
        ),
    },
    "ncti": {
        "seli": Meaning(
            "Separability (SELI)", "", "Nuclear norm of the centred LDA projection (higher: better)."
        ),
        "ncc": Meaning(
            "Nearest-centre fit (NCC)",
            "",
            "Mean LDA posterior of the true class, in (0, 1] (higher: better).",
        ),
        "vc": Meaning("Variability collapse (VC)", "", "Log summed per-class nuclear norms (lower: better)."),
        "lda_solver": Meaning("LDA solver", "", "LDA solver used (eigen when shrinkage applies)."),
    },
}
for _name in ("ncti_seli", "ncti_ncc", "ncti_vc"):
    KNOWN[_name] = KNOWN["ncti"]
#: Items of a list shown before "… (n more)".
_MAX_LIST_ITEMS = 12


def describe(scorer: str, key: str) -> Meaning:
    """The meaning of diagnostic ``key`` of ``scorer`` (a generic one, labelled from the key, if unknown)."""
    for table in (KNOWN.get(scorer, {}), KNOWN["*"]):
        if key in table:
            return table[key]
    label = key.replace("_", " ").strip().capitalize() or key
    return Meaning(label, "", "Reported by the scorer.")


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}".replace(",", "\u202f")
    return f"{value:.4g}"


def format_value(value: Any, unit: str) -> str:
    """``value`` as text with its unit (``%`` turns a fraction into a percentage)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or (isinstance(value, str) and not value.strip()):
        return "—"
    if isinstance(value, int | float):
        if unit == "%":
            return f"{100.0 * float(value):.4g} %"
        return _number(float(value)) + (f" {unit}" if unit else "")
    if isinstance(value, list | tuple):
        items = [format_value(v, "") for v in value[:_MAX_LIST_ITEMS]]
        more = f" … ({len(value) - _MAX_LIST_ITEMS} more)" if len(value) > _MAX_LIST_ITEMS else ""
        text = ", ".join(items) if items else "none"
        return text + more + (f" ({unit})" if unit and items else "")
    if isinstance(value, Mapping):
        if not value:
            return "none"
        return ", ".join(f"{k} = {format_value(v, '')}" for k, v in value.items())
    return str(value)


def _rows(scorer: str, info: Mapping[str, Any], prefix: str = "") -> list[DiagnosticRow]:
    rows: list[DiagnosticRow] = []
    for key in sorted(info):
        value = info[key]
        meaning = describe(scorer, key)
        if key == "base_info" and isinstance(value, Mapping):
            base = str(info.get("base", ""))
            for row in _rows(base, value, prefix=f"{meaning.label} {base}: " if base else "Base: "):
                rows.append(DiagnosticRow(f"{key}.{row.key}", row.label, row.value, row.sentence))
            continue
        rows.append(
            DiagnosticRow(key, prefix + meaning.label, format_value(value, meaning.unit), meaning.sentence)
        )
    return rows


def diagnostic_tables(info: Mapping[str, Mapping[str, Any]]) -> list[DiagnosticTable]:
    """One table per scorer (in ``info``'s order) with a row per diagnostic; scorers without any left out."""
    tables = []
    for scorer, values in info.items():
        rows = _rows(scorer, values)
        if rows:
            tables.append(DiagnosticTable(scorer=scorer, rows=tuple(rows)))
    return tables
