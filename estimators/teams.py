"""Team search: choose k models of a pool with an ensemble scorer (OSBORN, ensemble EEP, mean LEEP).

:func:`select_team` validates every member of the pool separately. A member that cannot supply what the
scorer needs (no source profile for OSBORN, no source head for any of them) or whose inputs fail the
validation gate is reported in :attr:`TeamSelection.ineligible` with the reason, never silently dropped;
the search runs over the eligible rest.

Each ensemble scorer contributes a :class:`TeamObjective` builder (registry :data:`TEAM_OBJECTIVES`): it
computes the per-member quantities once for the whole pool (OSBORN's transports, the members' EEP
vectors), and then scores any team cheaply. Two searches:

* ``mode="greedy"`` (OSBORN's selection): k rounds, each adding the member
  with the largest gain f(E ∪ {v}) − f(E) (OSBORN: the closed form −w_D d_v − w_T t_v −
  w_C Σ_{m∈E}(c_vm + c_mv)); ties go to the lowest pool index. No early stop (§1.3 e).
* ``mode="exhaustive"``: every k-subset is scored and the ``top`` best are returned (ties: lowest pool
  indices first); refused with :class:`SearchTooLargeError` when C(pool, k) exceeds ``max_teams``.

For a modular objective (mean LEEP; OSBORN with ``w_c = 0``) greedy finds the exhaustive optimum.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from estimators._api import _finite, _prepare, _run_guarded, _spec_of_kind
from estimators._data import ScoringData, check_scoring_inputs
from estimators._registry import INPUT_NAMES, Registry
from estimators.errors import (
    InvalidInputError,
    InvalidParameterError,
    SearchTooLargeError,
    TeamSizeError,
    UnknownScorerError,
    ZoorankError,
)

__all__ = [
    "MAX_TEAMS",
    "NOT_ELIGIBLE",
    "TEAM_OBJECTIVES",
    "Team",
    "TeamObjective",
    "TeamSelection",
    "prepare_pool",
    "register_team_objective",
    "search",
    "select_team",
]

#: Default cap on the k-subsets an exhaustive search scores.
MAX_TEAMS = 5000
#: Reason code of a member that lacks an input the scorer needs (no source profile, no head).
NOT_ELIGIBLE = "not-applicable"

_WHAT = {
    "source_probs": "no source head (source_probs)",
    "source_features": "no source profile",
    "source_predictions": "no source profile",
    "features": "no target features",
}


class TeamObjective(ABC):
    """A team score over a fixed pool, with its per-member quantities computed once.

    Attributes:
        names: member ids in pool order; teams are tuples of pool indices.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)

    def check_mode(self, mode: str) -> None:  # noqa: B027 (optional hook, default accepts every mode)
        """Raise :class:`InvalidParameterError` if the objective cannot run this search mode."""

    @abstractmethod
    def team_score(self, team: Sequence[int]) -> float:
        """f(team), higher is better."""

    def gain(self, team: Sequence[int], v: int) -> float:
        """f(team ∪ {v}) − f(team), with f(∅) = 0."""
        base = self.team_score(team) if len(team) else 0.0
        return self.team_score((*team, v)) - base

    def per_sample(self, team: Sequence[int]) -> np.ndarray | None:
        """``(N,)`` per-target-sample terms whose mean is ``team_score(team)``, or None when the score is
        not such a mean (OSBORN's transport terms are not). A team recommendation resamples these terms
        instead of rebuilding the objective on every resample."""
        del team
        return None

    def scores_all(self, teams: Sequence[tuple[int, ...]]) -> np.ndarray:
        """``(len(teams),)`` scores of many teams (objectives may vectorise or standardise across them)."""
        return np.array([self.team_score(t) for t in teams], dtype=np.float64)

    def breakdown(self, team: Sequence[int]) -> dict[str, Any]:
        """The terms behind ``team``'s score (JSON-ready)."""
        return {}

    def member_info(self) -> dict[str, dict[str, Any]]:
        """Per pool member: its own terms (JSON-ready)."""
        return {}

    def info(self) -> dict[str, Any]:
        """Pool-level diagnostics: sizes used, timings (JSON-ready)."""
        return {}


ObjectiveBuilder = Callable[[Mapping[str, ScoringData], Mapping[str, Any]], TeamObjective]

#: Ensemble scorer name -> builder of its team objective over a pool of validated members.
TEAM_OBJECTIVES: Registry[ObjectiveBuilder] = Registry("team objective", UnknownScorerError)


def register_team_objective(name: str) -> Callable[[ObjectiveBuilder], ObjectiveBuilder]:
    """Register the team-objective builder of the ensemble scorer ``name`` (raises on duplicates)."""

    def decorate(fn: ObjectiveBuilder) -> ObjectiveBuilder:
        TEAM_OBJECTIVES.add(name, fn)
        return fn

    return decorate


@dataclass(frozen=True)
class Team:
    """One scored team.

    Attributes:
        members: member ids, in greedy selection order or (exhaustive) pool order.
        score: the finite team score (higher is better).
        terms: the per-term breakdown (scorer-specific, e.g. OSBORN's W_D, W_T, cohesion per member and pair).
    """

    members: tuple[str, ...]
    score: float
    terms: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"members": list(self.members), "score": self.score, "terms": dict(self.terms)}


@dataclass(frozen=True)
class TeamSelection:
    """The result of :func:`select_team`.

    Attributes:
        scorer: the ensemble scorer.
        k: team size; mode: ``greedy`` or ``exhaustive``.
        teams: best first (greedy: the one selected team; exhaustive: the ``top`` best).
        pool: eligible member ids, pool order.
        ineligible: member id -> ``{"code", "message"}`` for every member left out, and why.
        members: eligible member id -> its own terms over the pool (OSBORN: W_D, W_T, d, t, sizes).
        steps: greedy rounds: ``{"pick", "gain", "gains": {candidate: gain}}``; empty when exhaustive.
        candidates: number of teams scored (exhaustive) or gains evaluated (greedy).
        params: the scorer parameters used (defaults merged).
        info: pool-level diagnostics (transport sizes and times for OSBORN).
    """

    scorer: str
    k: int
    mode: str
    teams: tuple[Team, ...]
    pool: tuple[str, ...]
    ineligible: Mapping[str, Mapping[str, str]]
    members: Mapping[str, Mapping[str, Any]]
    steps: tuple[Mapping[str, Any], ...]
    candidates: int
    params: Mapping[str, Any]
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> Team:
        """The selected (highest-scoring) team."""
        return self.teams[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scorer": self.scorer,
            "k": self.k,
            "mode": self.mode,
            "teams": [t.to_dict() for t in self.teams],
            "pool": list(self.pool),
            "ineligible": {k: dict(v) for k, v in self.ineligible.items()},
            "members": {k: dict(v) for k, v in self.members.items()},
            "steps": [dict(s) for s in self.steps],
            "candidates": self.candidates,
            "params": dict(self.params),
            "info": dict(self.info),
        }


def _check_search(k: Any, mode: Any, top: Any, max_teams: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise TeamSizeError(f"k must be an int >= 1, got {k!r}", param="k")
    if mode not in ("greedy", "exhaustive"):
        raise InvalidParameterError(f"mode must be 'greedy' or 'exhaustive', got {mode!r}", param="mode")
    for name, value in (("top", top), ("max_teams", max_teams)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidParameterError(f"{name} must be an int >= 1, got {value!r}", param=name)


def prepare_pool(
    name: str, *, members: Mapping[str, Mapping[str, Any]], labels: Any, **params: Any
) -> tuple[TeamObjective, dict[str, dict[str, str]], dict[str, Any]]:
    """Validate every member and build ``name``'s objective over the eligible ones.

    Returns:
        ``(objective, ineligible, merged_params)``; ``ineligible`` maps member id -> ``{"code", "message"}``.

    Raises:
        UnknownScorerError, InvalidParameterError: bad scorer name or parameters.
        InvalidInputError: ``members`` is not a non-empty mapping of mappings, or has unknown inputs; the
            labels are invalid (re-raised from the gate when no member passes it).
        TeamSizeError: no member is eligible.
    """
    spec = _spec_of_kind(name, "ensemble", "select_team")
    merged, dtype = _prepare(spec, params)
    if not isinstance(members, Mapping) or len(members) == 0:
        raise InvalidInputError("select_team needs a non-empty mapping of members", param="members")
    allowed = set(INPUT_NAMES) - {"labels"}
    eligible: dict[str, ScoringData] = {}
    ineligible: dict[str, dict[str, str]] = {}
    gate_errors: list[ZoorankError] = []
    for key, arrays in members.items():
        if not isinstance(arrays, Mapping):
            raise InvalidInputError(
                f"members[{key!r}] must be a mapping of input name -> array", param="members"
            )
        extra = set(arrays) - allowed
        if extra:
            raise InvalidInputError(f"members[{key!r}] has unknown inputs {sorted(extra)}", param="members")
        missing = [n for n in spec.needs if n != "labels" and arrays.get(n) is None]
        if missing:
            reasons = sorted({_WHAT.get(n, f"no {n}") for n in missing})
            ineligible[str(key)] = {"code": NOT_ELIGIBLE, "message": "; ".join(reasons)}
            continue
        try:
            eligible[str(key)] = check_scoring_inputs(spec, labels=labels, dtype=dtype, **arrays)
        except ZoorankError as exc:
            gate_errors.append(exc)
            ineligible[str(key)] = {"code": exc.code, "message": f"members[{key!r}]: {exc.message}"}
    if not eligible:
        if gate_errors:
            raise gate_errors[0]
        left_out = "; ".join(f"{m}: {r['message']}" for m, r in ineligible.items())
        raise TeamSizeError(
            f"no member is eligible for {name!r} ({left_out})", param="members", ineligible=ineligible
        )
    builder = TEAM_OBJECTIVES.get(name)
    objective = _run_guarded(spec, lambda: builder(eligible, merged))
    return objective, ineligible, merged


def search(
    objective: TeamObjective, *, k: int = 3, mode: str = "greedy", top: int = 5, max_teams: int = MAX_TEAMS
) -> tuple[tuple[Team, ...], tuple[dict[str, Any], ...], int]:
    """Run the greedy or exhaustive search over ``objective``'s pool.

    Returns:
        ``(teams best first, greedy steps, candidates scored)``.

    Raises:
        TeamSizeError: k is larger than the pool. SearchTooLargeError: C(pool, k) > max_teams (exhaustive).
    """
    _check_search(k, mode, top, max_teams)
    objective.check_mode(mode)
    pool = len(objective.names)
    if k > pool:
        raise TeamSizeError(
            f"a team of k={k} needs at least {k} eligible members; the pool has {pool}", param="k"
        )
    if mode == "greedy":
        team: list[int] = []
        steps: list[dict[str, Any]] = []
        for _ in range(k):
            gains = {v: objective.gain(team, v) for v in range(pool) if v not in team}
            pick = max(gains, key=lambda v: (gains[v], -v))  # ties -> lowest pool index
            steps.append(
                {
                    "pick": objective.names[pick],
                    "gain": gains[pick],
                    "gains": {objective.names[v]: g for v, g in gains.items()},
                }
            )
            team.append(pick)
        scored = Team(
            tuple(objective.names[i] for i in team), objective.team_score(team), objective.breakdown(team)
        )
        return (scored,), tuple(steps), sum(pool - i for i in range(k))
    count = math.comb(pool, k)
    if count > max_teams:
        raise SearchTooLargeError(
            f"an exhaustive search over C({pool}, {k}) = {count} teams exceeds max_teams={max_teams}; "
            "use mode='greedy' or raise max_teams",
            param="max_teams",
        )
    teams = list(combinations(range(pool), k))
    scores = objective.scores_all(teams)
    order = sorted(range(len(teams)), key=lambda i: (-float(scores[i]), teams[i]))[:top]
    best = tuple(
        Team(tuple(objective.names[j] for j in teams[i]), float(scores[i]), objective.breakdown(teams[i]))
        for i in order
    )
    return best, (), count


def select_team(
    name: str,
    *,
    members: Mapping[str, Mapping[str, Any]],
    labels: Any,
    k: int = 3,
    mode: str = "greedy",
    top: int = 5,
    max_teams: int = MAX_TEAMS,
    **params: Any,
) -> TeamSelection:
    """Select a team of ``k`` members of a pool with the ensemble scorer ``name``.

    Args:
        name: ``osborn``, ``ens_eep``, ``mean_leep`` (any ``ensemble``-kind scorer with a team objective).
        members: pool: member id -> its inputs (``features`` ``(N, D_m)``, ``source_probs`` ``(N, C_m)``,
            ``source_features`` ``(n_m, D_m)``, ``source_predictions`` / ``source_labels`` ``(n_m,)``).
        labels: ``(N,)`` target class ids shared by every member.
        k: team size (greedy rounds). mode: ``"greedy"`` or ``"exhaustive"``.
        top: teams returned by an exhaustive search. max_teams: cap on C(pool, k) for exhaustive.
        **params: the scorer's parameters (``estimators.get_scorer(name).defaults``).

    Returns:
        A :class:`TeamSelection`: the team(s) with score and per-term breakdown, the eligible pool, the
        ineligible members with their reasons, and each member's own terms.

    Raises:
        TeamSizeError: k < 1 or more than the eligible members. SearchTooLargeError: too many k-subsets.
        UnknownScorerError, InvalidParameterError, InvalidInputError, NumericalError: as for every scorer.
    """
    _check_search(k, mode, top, max_teams)
    spec = _spec_of_kind(name, "ensemble", "select_team")
    objective, ineligible, merged = prepare_pool(name, members=members, labels=labels, **params)
    if k > len(objective.names):
        left_out = "; ".join(f"{m}: {r['message']}" for m, r in ineligible.items()) or "none"
        raise TeamSizeError(
            f"a team of k={k} needs at least {k} eligible members; {len(objective.names)} of {len(members)} "
            f"are eligible for {name!r} (left out: {left_out})",
            param="k",
            ineligible=ineligible,
        )
    teams, steps, count = _run_guarded(
        spec, lambda: search(objective, k=k, mode=mode, top=top, max_teams=max_teams)
    )
    checked = tuple(
        Team(t.members, _finite(spec, t.score, f" for team {list(t.members)}"), t.terms) for t in teams
    )
    return TeamSelection(
        scorer=name,
        k=k,
        mode=mode,
        teams=checked,
        pool=objective.names,
        ineligible=ineligible,
        members=objective.member_info(),
        steps=steps,
        candidates=count,
        params=merged,
        info=objective.info(),
    )
