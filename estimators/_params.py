"""Declarative parameter constraints (after scikit-learn's ``_param_validation``).

A scorer declares, next to its keyword-only defaults, a constraint per parameter. The validation gate
checks every call against them, so a bad value fails with a message naming the parameter, the rule and
the value instead of surfacing as a NaN deep inside the maths.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Protocol

from estimators.errors import InvalidParameterError


class Constraint(Protocol):
    """A rule one parameter value must satisfy."""

    def is_satisfied_by(self, value: Any) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Interval:
    """A real (or integer, with ``integer=True``) in an interval; ``None`` bounds are open-ended."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both" | "left" | "right" | "neither"
    integer: bool = False

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.integer and not isinstance(value, Integral):
            return False
        if not isinstance(value, Real) or not math.isfinite(float(value)):
            return False
        v = float(value)
        if self.low is not None and (v < self.low or (v == self.low and self.closed in ("right", "neither"))):
            return False
        return not (
            self.high is not None
            and (v > self.high or (v == self.high and self.closed in ("left", "neither")))
        )

    def describe(self) -> str:
        kind = "an int" if self.integer else "a float"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        lo = "-inf" if self.low is None else repr(self.low)
        hi = "inf" if self.high is None else repr(self.high)
        return f"{kind} in the range {left}{lo}, {hi}{right}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (strings, bools, ...)."""

    values: Collection[Any]

    def is_satisfied_by(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in sorted(self.values, key=repr))


@dataclass(frozen=True)
class AnyOf:
    """Satisfied when any of the given constraints is (e.g. ``None`` or an int)."""

    constraints: tuple[Constraint, ...]

    def is_satisfied_by(self, value: Any) -> bool:
        return any(c.is_satisfied_by(value) for c in self.constraints)

    def describe(self) -> str:
        return " or ".join(c.describe() for c in self.constraints)


BOOL = Options((True, False))
NONE = Options((None,))


def check_params(
    scorer: str, given: dict[str, Any], defaults: dict[str, Any], constraints: dict[str, Constraint]
) -> dict[str, Any]:
    """Merge ``given`` over ``defaults`` after checking names and values.

    Raises:
        InvalidParameterError: unknown parameter name, or a value violating its constraint.
    """
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults)) or "none"
        raise InvalidParameterError(
            f"{scorer!r} got unknown parameter(s) {', '.join(map(repr, unknown))}; "
            f"valid parameters: {valid}.",
            param=unknown[0],
        )
    merged = {**defaults, **given}
    for name, value in merged.items():
        rule = constraints.get(name)
        if rule is not None and not rule.is_satisfied_by(value):
            raise InvalidParameterError(
                f"The {name!r} parameter of {scorer!r} must be {rule.describe()}. Got {value!r} instead.",
                param=name,
            )
    return merged
