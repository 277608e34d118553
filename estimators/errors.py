"""The project's exception tree.

Every error zoorank raises on purpose derives from :class:`ZoorankError`. The tree lives in the bottom
package (``estimators``) so that ``zoo`` and ``service`` extend it without import cycles; the service
translates it to RFC 9457 problem details in exactly one place, keyed on :attr:`ZoorankError.code`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ZoorankError(Exception):
    """Root of every error zoorank raises on purpose.

    Attributes:
        code: stable machine-readable reason (used as the problem type by the HTTP layer).
        param: the offending parameter or input name, when there is one.
    """

    code: ClassVar[str] = "zoorank-error"

    def __init__(self, message: str, *, param: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.context = context


# --- scoring -------------------------------------------------------------------------------------


class ScoringError(ZoorankError):
    """A scorer could not produce a score."""

    code = "scoring-error"


class InvalidInputError(ScoringError, ValueError):
    """An input array has the wrong shape, dtype or non-finite values."""

    code = "invalid-input"


class InvalidParameterError(InvalidInputError):
    """A scorer parameter is unknown or outside its allowed values."""

    code = "invalid-parameter"


class DegenerateInputError(ScoringError, ValueError):
    """Inputs are well-formed but carry too little information for this scorer (e.g. one class)."""

    code = "degenerate-input"


class NumericalError(ScoringError, ArithmeticError):
    """The computation broke down numerically (singular system, overflow, solver failure)."""

    code = "numerical-error"


class NonFiniteScoreError(NumericalError):
    """The scorer produced NaN or inf; never returned to the caller as a number."""

    code = "non-finite-score"


class NotApplicableError(ScoringError):
    """The model lacks what the scorer reads (a baseline's metadata: e.g. no recorded source accuracy)."""

    code = "not-applicable"


class UnknownScorerError(ScoringError, LookupError):
    """No scorer is registered under the requested name."""

    code = "unknown-scorer"

    def __str__(self) -> str:  # LookupError would otherwise repr() the message
        return self.message


class LimitExceededError(ZoorankError):
    """A request would exceed a configured limit: images or models per job, or a scorer's cost budget.

    Scorers with budget parameters (NLEEP's ``time_budget_s`` / ``memory_budget_mb``) raise it before the
    work starts, when their estimate exceeds the budget, and name the ways out in the message.
    """

    code = "limit-exceeded"


class DuplicateRegistrationError(ZoorankError, ValueError):
    """A plugin (scorer, zoo entry, dataset reader) was registered twice under one name."""

    code = "duplicate-registration"


# --- team search ---------------------------------------------------------------------------------


class TeamSizeError(InvalidParameterError):
    """A team of k models was asked of a pool with fewer than k eligible members (or k < 1)."""

    code = "invalid-team-size"


class SearchTooLargeError(InvalidParameterError):
    """An exhaustive team search would score more k-subsets than its cap allows."""

    code = "search-too-large"
