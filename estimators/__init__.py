"""zoorank estimators: transferability scorers as pure functions of arrays, plus evaluation code.

Quick use::

    import estimators
    estimators.list_scorers()                                   # ['etran', 'etran_energy', ...]
    estimators.score("logme", features=F, labels=y)             # F: (N, D), y: (N,)
    estimators.score("leep", source_probs=P, labels=y)          # P: (N, C_s) softmax rows
    estimators.score_set("etran", candidates={"a": {"features": Fa}, "b": {"features": Fb}}, labels=y)

Every scorer returns a finite float (higher is better) or raises a subclass of
:class:`estimators.errors.ZoorankError`; no NaN, no library exception, no mutated input.
"""

from estimators import (  # noqa: F401  (imported for their registrations)
    baselines,
    ensembles,
    etran,
    evaluation,
    gbc,
    hscore,
    leep,
    logme,
    nce,
    ncti,
    nleep,
    osborn,
    parc,
    ped,
    probe,
    ridge_loo,
    sfda,
    tmi,
    transrate,
)
from estimators._api import (
    ScoreResult,
    get_scorer,
    list_scorers,
    score,
    score_baseline,
    score_details,
    score_ensemble,
    score_set,
)
from estimators._registry import ScorerSpec
from estimators.errors import (
    DegenerateInputError,
    DuplicateRegistrationError,
    InvalidInputError,
    InvalidParameterError,
    LimitExceededError,
    NonFiniteScoreError,
    NotApplicableError,
    NumericalError,
    ScoringError,
    SearchTooLargeError,
    TeamSizeError,
    UnknownScorerError,
    ZoorankError,
)
from estimators.teams import Team, TeamSelection, select_team

__all__ = [
    "DegenerateInputError",
    "DuplicateRegistrationError",
    "InvalidInputError",
    "InvalidParameterError",
    "LimitExceededError",
    "NonFiniteScoreError",
    "NotApplicableError",
    "NumericalError",
    "ScoreResult",
    "ScorerSpec",
    "ScoringError",
    "SearchTooLargeError",
    "Team",
    "TeamSelection",
    "TeamSizeError",
    "UnknownScorerError",
    "ZoorankError",
    "evaluation",
    "get_scorer",
    "list_scorers",
    "score",
    "score_baseline",
    "score_details",
    "score_ensemble",
    "score_set",
    "select_team",
]
