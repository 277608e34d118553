"""Synthetic rankings for the dashboard tests (scores made up; ranks from the service's own functions)."""

from __future__ import annotations

from service.pipeline.schema import (
    DatasetInfo,
    ErrorInfo,
    ModelResult,
    Provenance,
    Ranking,
    SamplingInfo,
    ScorerInfo,
)

SCORERS = ("a", "b", "c")


def make_ranking(rows: dict[str, dict[str, float]], *, failed: tuple[str, ...] = ()) -> Ranking:
    """A ranking of synthetic scores, ranked and aggregated with the service's own functions."""
    from service.pipeline.aggregate import aggregate
    from service.pipeline.types import Cells

    cells = {m: Cells() for m in rows}
    for m, values in rows.items():
        cells[m].scores.update(values)
    ranked = aggregate(cells, SCORERS, orientation=dict.fromkeys(SCORERS, True))
    models = []
    for m, values in rows.items():
        per, agg = ranked[m]
        models.append(
            ModelResult(
                id=m,
                scores=dict(values),
                ranks=per,
                aggregate_rank=agg,
                errors={s: ErrorInfo("not-applicable", "no head") for s in SCORERS if s not in values},
                weights_sha256="ab" * 32,
            )
        )
    for m in failed:
        models.append(ModelResult(id=m, error=ErrorInfo("weights-not-found", "missing")))
    models.sort(key=lambda r: (r.aggregate_rank is None, r.aggregate_rank or 0.0, r.id))
    return Ranking(
        dataset=DatasetInfo("data:x", "f" * 64, "imagefolder", 30, 3, ("p", "q", "r"),
                            {"p": 10, "q": 10, "r": 10}, 0, SamplingInfo("stratified-v1", 10, None, 0, 30)),
        models=tuple(models),
        scorers=tuple(ScorerInfo(s, "model", "1", {}) for s in SCORERS),
        provenance=Provenance("0.1.0", "1", "2025-01-01T00:00:00Z", "cpu", "2"),
    )  # fmt: skip
