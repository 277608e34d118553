"""Name -> plugin registries that refuse duplicates, and the scorer registry built on one.

One :class:`Registry` per plugin kind (scorers here; zoo entries and dataset readers in ``zoo``). A second
registration under a taken name raises instead of silently overwriting (torchvision, not timm).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from estimators._params import Constraint
from estimators.errors import DuplicateRegistrationError, UnknownScorerError, ZoorankError

T = TypeVar("T")

ScorerKind = Literal["model", "set", "ensemble", "baseline"]
INPUT_NAMES = (
    "features",
    "labels",
    "source_probs",
    "source_mean",
    "source_std",
    # a source profile's labelled feature sample (OSBORN): (n_s, D) features, (n_s,) predicted / true labels
    "source_features",
    "source_predictions",
    "source_labels",
    # a model's own metadata, for the data-free baselines (estimators.baselines): numbers, not arrays
    "param_count",
    "source_accuracy",
    "feature_dim",
)


class Registry(Generic[T]):
    """A mapping from unique names to plugins of one kind.

    Args:
        kind: human name of the plugin kind, used in error messages ("scorer", "zoo entry", ...).
        unknown_error: exception class raised by :meth:`get` for a missing name.
    """

    def __init__(self, kind: str, unknown_error: type[ZoorankError]) -> None:
        self._kind = kind
        self._unknown_error = unknown_error
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``; raises :class:`DuplicateRegistrationError` if taken."""
        if name in self._items:
            raise DuplicateRegistrationError(
                f"A {self._kind} is already registered under the name {name!r}.", param="name"
            )
        self._items[name] = item
        return item

    def discard(self, name: str) -> None:
        """Forget ``name`` (no error when absent): a reloaded zoo manifest replaces its own entries."""
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        """Return the plugin registered under ``name``; the error lists the valid names."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            valid = ", ".join(sorted(self._items))
            raise self._unknown_error(
                f"Unknown {self._kind} {name!r}. Valid names: {valid}.", param="name"
            ) from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class ScorerSpec:
    """Metadata and entry point of one registered scorer.

    Attributes:
        name: registry key (lower-case acronym, e.g. ``"logme"``).
        kind: ``model`` (one float per model), ``set`` (one float per candidate, depending on the whole
            candidate set), ``ensemble`` (one float per team of models) or ``baseline`` (one float per
            model from its metadata alone, no target data: a guardrail the benchmark grades the scorers
            against; a ranking refuses it).
        fn: the implementation; receives validated :class:`~estimators._data.ScoringData` (or a mapping
            of them for set/ensemble scorers) plus keyword parameters.
        needs: inputs that must be given (subset of ``features, labels, source_probs``).
        optional: inputs used when given (``source_mean``, ``source_std`` for PED).
        defaults: parameter name -> default value, read from ``fn``'s keyword-only signature.
        constraints: parameter name -> rule checked on every call.
        min_classes / min_per_class / min_samples: requirements checked by the gate.
        accepts_targets: whether 2-D float targets (regression / multi-label) are accepted as labels.
        version: bumped whenever the scorer's numbers change (part of every cache key).
        higher_is_better: the scorer's orientation. True for every published transferability score; False
            for a component kept as published with the opposite sense (``ncti_vc``: lower = more collapsed
            = better). Anything that ranks models by a score (``service.pipeline``) must read this.
        citation: the paper, for provenance in rankings.
        summary: first line of the docstring.
        reports_progress: ``fn`` takes the keyword-only :data:`PROGRESS_PARAM` callback, called with
            ``(done, total)`` after each of its steps (``probe_cv``: folds). Not a user parameter: it is
            neither published nor accepted in ``params``; callers pass it through ``score_details``.
    """

    name: str
    kind: ScorerKind
    fn: Callable[..., Any]
    needs: tuple[str, ...]
    optional: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    constraints: Mapping[str, Constraint] = field(default_factory=dict)
    min_classes: int = 2
    min_per_class: int = 1
    min_samples: int = 2
    accepts_targets: bool = False
    version: str = "1"
    higher_is_better: bool = True
    citation: str = ""
    summary: str = ""
    reports_progress: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (what ``zoorank scorers --format json`` and the API publish)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "needs": list(self.needs),
            "optional": list(self.optional),
            "params": dict(self.defaults.items()),
            "constraints": {k: c.describe() for k, c in self.constraints.items()},
            "min_classes": self.min_classes,
            "min_per_class": self.min_per_class,
            "min_samples": self.min_samples,
            "accepts_targets": self.accepts_targets,
            "version": self.version,
            "citation": self.citation,
            "summary": self.summary,
            "higher_is_better": self.higher_is_better,
        }


SCORERS: Registry[ScorerSpec] = Registry("scorer", UnknownScorerError)

#: The keyword-only argument through which a long scorer reports its steps: ``progress(done, total)``.
PROGRESS_PARAM = "progress"


def register_scorer(
    name: str,
    *,
    kind: ScorerKind = "model",
    needs: tuple[str, ...] = ("features", "labels"),
    optional: tuple[str, ...] = (),
    constraints: Mapping[str, Constraint] | None = None,
    min_classes: int = 2,
    min_per_class: int = 1,
    min_samples: int = 2,
    accepts_targets: bool = False,
    version: str = "1",
    higher_is_better: bool = True,
    citation: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Class-free registration decorator for a scorer implementation.

    The decorated function takes the validated data as its only positional argument and every parameter
    as a keyword-only argument with a default; those defaults become the published defaults.
    ``higher_is_better=False`` declares a score whose smaller values predict better transfer.
    """
    unknown = set(needs) | set(optional)
    unknown -= set(INPUT_NAMES)
    if unknown:
        raise ValueError(f"scorer {name!r} declares unknown inputs {sorted(unknown)}")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        defaults = {
            p.name: p.default
            for p in sig.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != PROGRESS_PARAM
        }
        missing = [k for k, v in defaults.items() if v is inspect.Parameter.empty]
        if missing:
            raise ValueError(f"scorer {name!r}: parameters {missing} need defaults")
        extra = set(constraints or {}) - set(defaults)
        if extra:
            raise ValueError(f"scorer {name!r}: constraints for unknown parameters {sorted(extra)}")
        doc = inspect.getdoc(fn) or ""
        SCORERS.add(
            name,
            ScorerSpec(
                name=name,
                kind=kind,
                fn=fn,
                needs=tuple(needs),
                optional=tuple(optional),
                defaults=defaults,
                constraints=dict(constraints or {}),
                min_classes=min_classes,
                min_per_class=min_per_class,
                min_samples=min_samples,
                accepts_targets=accepts_targets,
                version=version,
                higher_is_better=higher_is_better,
                citation=citation,
                summary=doc.splitlines()[0] if doc else "",
                reports_progress=PROGRESS_PARAM in sig.parameters,
            ),
        )
        return fn

    return decorate
