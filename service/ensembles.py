"""The ``ensembles`` section of a ranking: which team of k models each ensemble scorer selects.

A ranking request may carry :class:`EnsembleOptions` (``rank(..., ensemble=...)``, the HTTP request's
``ensemble`` field, ``zoorank ensemble``). The per-model inputs the ranking already computes (target
features, source-head probabilities, source profiles) are then handed to
:func:`estimators.select_team` once per ensemble scorer, and the selected team(s) with their score and
per-term breakdown become the ranking's ``ensembles`` section (:class:`service.schema.EnsembleSection`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["DEFAULT_ENSEMBLE_SCORERS", "MAX_ENSEMBLE_K", "EnsembleOptions"]

#: Ensemble scorers run when the request names none.
DEFAULT_ENSEMBLE_SCORERS: tuple[str, ...] = ("osborn", "ens_eep", "mean_leep")
#: Largest team size a request may ask for (the paper and Agostinelli et al. use k = 3).
MAX_ENSEMBLE_K = 8
#: Most top teams an exhaustive search reports per scorer.
MAX_ENSEMBLE_TOP = 50

ParamValue = str | int | float | bool | None


class EnsembleOptions(BaseModel):
    """What team search a ranking request asks for.

    Attributes:
        k: team size (1..:data:`MAX_ENSEMBLE_K`); a pool smaller than k is reported as an error of that
            scorer, not of the ranking.
        scorers: ensemble-kind scorers to run (registered names, no duplicates).
        mode: ``greedy`` (the paper's selection, one team) or ``exhaustive`` (every k-subset scored, the
            best ``top`` teams reported; refused when C(pool, k) exceeds ``max_teams``).
        top: teams reported by an exhaustive search.
        max_teams: most k-subsets an exhaustive search may score.
        params: scorer name -> parameter overrides (e.g. ``{"osborn": {"solver": "sinkhorn"}}``); checked
            against the scorer's published parameters when the section is built.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(default=3, ge=1, le=MAX_ENSEMBLE_K)
    scorers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENSEMBLE_SCORERS), min_length=1, max_length=8
    )
    mode: Literal["greedy", "exhaustive"] = "greedy"
    top: int = Field(default=5, ge=1, le=MAX_ENSEMBLE_TOP)
    max_teams: int = Field(default=5000, ge=1, le=100_000)
    params: dict[str, dict[str, ParamValue]] = Field(default_factory=dict, max_length=8)

    @field_validator("scorers")
    @classmethod
    def _known_ensemble_scorers(cls, value: list[str]) -> list[str]:
        import estimators

        known = estimators.list_scorers("ensemble")
        bad = [s for s in value if s not in known]
        if bad:
            raise ValueError(f"unknown ensemble scorer(s) {bad}; valid: {known}")
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate scorer names in {value}")
        return value

    @model_validator(mode="after")
    def _params_for_chosen(self) -> EnsembleOptions:
        for name, overrides in self.params.items():
            if name not in self.scorers:
                raise ValueError(f"params given for {name!r}, which is not among scorers {self.scorers}")
            if len(overrides) > 32:
                raise ValueError(f"too many parameters for {name!r} (at most 32)")
        return self
