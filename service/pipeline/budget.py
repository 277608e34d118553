"""Budget mode: successive halving over the sample (``sampling.budget``, ``zoorank rank --budget``).

A full ranking forwards every sampled image through every model: its **extraction cost** is
``N x M`` (images x models). A budget ranking spends at most ``budget`` of that cost:

1. The rounds rank nested stratified samples of the full sample. Each class's images are put in one
   seeded order (:func:`nested_order`); the sample of a round at fraction ``f`` takes the first
   ``ceil(f * n_c)`` images of class ``c``, and at least ``min(n_c, m)`` where ``m`` is the most any
   of the request's scorers needs per class (:func:`per_class_need`), so every round's
   sample holds the previous one and only the new images (the round's *increment*) are forwarded.
   An increment's features are stored in the feature store under their own key (the sample's key plus
   the increment's rows), and taken from the whole sample's stored features when those exist, so
   nothing is forwarded twice.
2. The first round ranks every model on the largest sample at ``f = 2^-k`` (``k >= 1``) that costs at
   most half the budget; each later round doubles ``f`` (up to the whole sample) for the models kept.
3. A round keeps the **confidence set** of its recommendation (:mod:`service.pipeline.recommend`: the
   models that a stratified paired bootstrap of that round's sample cannot separate from the best at
   the level of the recommendation, 95 %; every scorer is resampled, whatever the refits take, so the
   drops never depend on the machine's speed) and drops the others. A round that cannot judge every model
   drops nothing: when a model has no aggregate rank, when a scorer failed on some model, or when a
   scorer's sample noise could not be measured (held fixed by the bootstrap).
4. It stops after the whole sample, when one model is left, or when the next round would exceed the
   budget; the last round then grows the sample as far as the budget allows (the ``budget`` section
   says ``stopped: budget-spent``).

Guarantee: ``cost <= budget * N * M`` images x models forwarded (counted whether or not the store
already held them), and ``models[0]`` is the recommended model of the last round. The models dropped
on the way follow the survivors in the ranking, each with its round (:class:`~service.pipeline.schema
.Dropped`) and its scores there.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from estimators.errors import InvalidParameterError
from service.errors import NoModelScoredError
from service.pipeline.assemble import finalise
from service.pipeline.extract import Extraction, extract_model, extract_shared, feature_key
from service.pipeline.plan import check_budget, load_source_stats
from service.pipeline.recommend import DEFAULT_LEVEL
from service.pipeline.sample import Sample, SampleSummary, sample
from service.pipeline.schema import NOT_APPLICABLE, BudgetRound, BudgetSection, Dropped, Ranking
from service.pipeline.score import score_model
from service.pipeline.types import (
    CancelCheck,
    Cells,
    ModelLoader,
    ProgressCallback,
    ProgressEvent,
    ScorerPlan,
    check_cancel,
    no_progress,
)
from service.settings import Settings
from zoo.features import CorruptImage, FeatureSet, check_device
from zoo.store import FeatureStore

if TYPE_CHECKING:
    from service.pipeline.plan import RankPlan
    from zoo._api import ZooEntry

__all__ = [
    "BUDGET_RULE",
    "GROWTH",
    "MIN_PER_CLASS",
    "Schedule",
    "budget_rank",
    "nested_order",
    "per_class_need",
    "plan_schedule",
]

#: The nesting rule (part of every increment's feature-store key; bump if the order or sizes change).
BUDGET_RULE = "budget-nested-v1"
#: Each round multiplies the sampled fraction by this (halving, read backwards).
GROWTH = 2
#: Fewest images of a class in any round (when the class has them): a class needs two images for the
#: bootstrap of the recommendation to vary it; scorers may need more (:func:`per_class_need`).
MIN_PER_CLASS = 2
#: Smallest first-round fraction tried (2**-20: far below one image per class of any allowed sample).
_MIN_EXPONENT = 20
#: Bisection steps of a budget-limited last round (fractions closer than 2**-40 give the same sizes).
_BISECT = 40


def nested_order(labels: np.ndarray, seed: int) -> list[np.ndarray]:
    """Each class's rows in one seeded order: a round takes a prefix of every class's list.

    Args:
        labels: ``(N,)`` integer class codes of the full sample.
        seed: the sampling seed (the generator is seeded with ``[seed, 1]`` so that the order is not the
            sample's own draw).

    Returns:
        One int64 array per class present, in label order: that class's row indices, shuffled.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, 1])
    return [rng.permutation(np.flatnonzero(labels == c)).astype(np.int64) for c in np.unique(labels)]


def per_class_need(scorers: Sequence[ScorerPlan]) -> int:
    """Images per class every scorer of a round can work with: the most any of them declares
    (``min_per_class``), or its cross-validation folds (``folds``: each class must be in every fold),
    and at least :data:`MIN_PER_CLASS`. A smaller round could not judge the models, only cost."""
    need = MIN_PER_CLASS
    for p in scorers:
        need = max(need, int(p.spec.min_per_class))
        folds = p.params.get("folds")
        if isinstance(folds, int) and not isinstance(folds, bool):
            need = max(need, folds)
    return need


def _take(counts: np.ndarray, fraction: float, floor: int) -> np.ndarray:
    """Images per class at ``fraction``: ``ceil(fraction * n_c)``, at least ``min(n_c, floor)``."""
    if fraction >= 1.0:
        return counts.copy()
    want = np.ceil(fraction * counts - 1e-12).astype(np.int64)  # 1e-12: 0.5 * 4 stays 2, not 3
    taken: np.ndarray = np.minimum(counts, np.maximum(want, np.minimum(counts, floor)))
    return taken


@dataclass(frozen=True)
class Schedule:
    """The nested samples of a budget ranking over one full sample.

    Attributes:
        order: each class's rows of the full sample in the nesting order (:func:`nested_order`).
        counts: ``(K,)`` images per class in the full sample.
        floor: fewest images of a class in a round (:func:`per_class_need`).
        models: M, the models requested.
        allowance: images x models the ranking may forward (``floor(budget * N * M)``).
        first: the first round's fraction.
    """

    order: tuple[np.ndarray, ...]
    counts: np.ndarray
    floor: int
    models: int
    allowance: int
    first: float

    @property
    def total(self) -> int:
        """N, the images of the full sample."""
        return int(self.counts.sum())

    def size(self, fraction: float) -> int:
        """Images of the round at ``fraction``."""
        return int(_take(self.counts, fraction, self.floor).sum())

    def rows(self, fraction: float) -> np.ndarray:
        """Sorted row indices (into the full sample) of the round at ``fraction``."""
        take = _take(self.counts, fraction, self.floor)
        parts = [o[:k] for o, k in zip(self.order, take, strict=True)]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def next_fraction(self, current: float, survivors: int, spent: int) -> float | None:
        """The next round's fraction for ``survivors`` models after ``spent``, or None when none fits.

        The fraction doubles (up to 1) while its new images cost at most what is left; otherwise the
        largest fraction below that fits (by bisection), or None when not one more image fits.
        """
        if current >= 1.0 or survivors <= 0:
            return None
        left = self.allowance - spent
        base = self.size(current)
        target = min(1.0, current * GROWTH)

        def cost(f: float) -> int:
            return survivors * (self.size(f) - base)

        if cost(target) <= left:
            return target
        lo, hi = current, target
        for _ in range(_BISECT):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if cost(mid) <= left else (lo, mid)
        return lo if self.size(lo) > base else None


def plan_schedule(
    labels: np.ndarray, seed: int, models: int, budget: float, *, floor: int = MIN_PER_CLASS
) -> Schedule:
    """The schedule of a budget ranking of ``models`` models on a full sample with ``labels``.

    ``floor`` is the fewest images of a class in a round (:func:`per_class_need` of the scorers).

    The first fraction is the largest ``2^-k`` (``k >= 1``) whose round costs at most half the
    allowance; when even the smallest round costs more than half, the smallest round, if it fits the
    whole allowance.

    Raises:
        InvalidParameterError: the budget is outside ``(0, 1]``, or too small for the first round on
            this sample (the message gives the smallest budget that fits).
    """
    check_budget(budget)
    order = tuple(nested_order(labels, seed))
    counts = np.array([len(o) for o in order], dtype=np.int64)
    total = int(counts.sum())
    allowance = math.floor(budget * total * models + 1e-9)
    sched = Schedule(order=order, counts=counts, floor=floor, models=models, allowance=allowance, first=1.0)
    chosen: float | None = None
    for k in range(1, _MIN_EXPONENT + 1):
        f = 2.0**-k
        if 2 * sched.size(f) * models <= allowance:
            chosen = f
            break
    if chosen is None:
        smallest = 2.0**-_MIN_EXPONENT
        if sched.size(smallest) * models > allowance:
            need = sched.size(smallest) / total if total else 1.0
            raise InvalidParameterError(
                f"budget {budget:g} is too small for this sample: the first round ranks every model on "
                f"{sched.size(smallest)} of {total} images (at least {floor} per class, what its scorers "
                "need), which "
                f"needs a budget of at least {math.ceil(need * 1000) / 1000:g}",
                param="sampling.budget",
            )
        chosen = smallest
    return replace(sched, first=chosen)


def _part(smp: Sample, rows: np.ndarray, lo: int, hi: int) -> Sample:
    """The increment of ``rows`` (indices into ``smp.data``) as a sample with its own store key."""
    digest = hashlib.sha256(np.ascontiguousarray(rows, dtype="<i8").tobytes()).hexdigest()
    return Sample(
        full=smp.full,
        digest=smp.digest,
        spec=smp.spec,
        data=smp.data.subset(rows),
        reference=smp.reference,
        part={"rule": BUDGET_RULE, "rows": digest, "count": int(len(rows)), "from": lo, "to": hi},
    )


def _slice(whole: FeatureSet, keys: Sequence[str]) -> FeatureSet | None:
    """The rows of ``whole`` (a model's features on the whole sample) for ``keys``; None if one is absent."""
    index = {k: i for i, k in enumerate(whole.keys)}
    bad = {c.key: c for c in whole.corrupt}
    rows = [index[k] for k in keys if k in index]
    corrupt = tuple(bad[k] for k in keys if k in bad)
    if len(rows) + len(corrupt) != len(keys):
        return None
    idx = np.asarray(rows, dtype=np.int64)
    return FeatureSet(
        features=np.asarray(whole.features)[idx],
        labels=np.asarray(whole.labels)[idx],
        keys=tuple(whole.keys[i] for i in rows),
        classes=whole.classes,
        probs=None if whole.probs is None else np.asarray(whole.probs)[idx],
        corrupt=corrupt,
    )


def _combine(parts: Sequence[FeatureSet], position: dict[str, int]) -> FeatureSet:
    """The increments of one model as one set, rows in the full sample's order."""
    keys = [k for p in parts for k in p.keys]
    order = np.argsort([position[k] for k in keys], kind="stable")
    feats = np.concatenate([np.asarray(p.features) for p in parts])[order]
    labels = np.concatenate([np.asarray(p.labels) for p in parts])[order]
    probs = None
    if all(p.probs is not None for p in parts):
        probs = np.concatenate([np.asarray(p.probs) for p in parts])[order]
    corrupt: list[CorruptImage] = [c for p in parts for c in p.corrupt]
    corrupt.sort(key=lambda c: position.get(c.key, -1))
    return FeatureSet(
        features=feats,
        labels=labels,
        keys=tuple(keys[i] for i in order),
        classes=parts[0].classes,
        probs=probs,
        corrupt=tuple(corrupt),
    )


@dataclass
class _Model:
    """One model's increments so far."""

    entry: ZooEntry
    parts: list[FeatureSet] = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = True
    last: Extraction | None = None


def _extract_round(
    models: Sequence[_Model],
    part: Sample,
    smp: Sample,
    settings: Settings,
    *,
    device: str,
    store: FeatureStore,
    progress: ProgressCallback,
    cancel: CancelCheck | None,
    load: ModelLoader | None,
    on_compute: Callable[[], None] | None,
    hold: Callable[[], AbstractContextManager[object]],
) -> None:
    """Add the increment ``part`` to each model: stored increment, slice of the stored whole sample, or
    a forward pass (models sharing a preprocessing config decoded together)."""
    todo: list[_Model] = []
    for m in models:
        check_cancel(cancel)
        if feature_key(m.entry, part, device) not in store:
            whole_key = feature_key(m.entry, smp, device)
            whole = store.get(whole_key) if whole_key in store else None
            sliced = None if whole is None else _slice(whole, part.data.keys)
            if sliced is not None:
                run = Extraction(m.entry, features=sliced, cached=True)
                run.mean, run.std, note = load_source_stats(m.entry)
                if note:
                    run.notes.append(note)
                _add(m, run)
                progress(ProgressEvent("cached", m.entry.id, len(sliced), len(sliced), "from the store"))
                continue
        todo.append(m)
    if not todo:
        return
    with hold():
        shared = extract_shared(
            [m.entry for m in todo],
            part,
            settings,
            device=device,
            store=store,
            progress=progress,
            cancel=cancel,
        )
        if on_compute is not None:
            for _ in shared:  # each a forward pass (extract_model counts its own)
                on_compute()
        for m in todo:
            run = shared.get(m.entry.id) or extract_model(
                m.entry,
                part,
                settings,
                device=device,
                store=store,
                progress=progress,
                cancel=cancel,
                load=load,
                on_compute=on_compute,
            )
            _add(m, run)


def _add(m: _Model, run: Extraction) -> None:
    m.last = run
    m.seconds += run.seconds
    m.cached = m.cached and run.cached
    if run.features is not None:
        m.parts.append(run.features)


def _run_of(m: _Model, position: dict[str, int]) -> Extraction:
    """The model's extraction on the round's whole sample so far (its increments combined)."""
    last = m.last
    assert last is not None
    run = Extraction(m.entry, cached=m.cached, seconds=m.seconds, error=last.error, notes=list(last.notes))
    run.mean, run.std = last.mean, last.std
    if last.error is None and m.parts:
        run.features = _combine(m.parts, position)
    return run


def _summary(smp: Sample, rows: np.ndarray) -> SampleSummary:
    whole = smp.summary()
    data = smp.data.subset(rows)
    return replace(whole, num_sampled=len(data), class_counts=data.class_counts())


def _judge(ranking: Ranking, active: Sequence[str]) -> tuple[list[str], list[str], str]:
    """``(kept, dropped, note)`` of a round: the confidence set goes on, unless the round cannot judge."""
    rec = ranking.recommendation
    rows = {m.id: m for m in ranking.models}
    unranked = [m for m in active if rows[m].aggregate_rank is None]
    if rec is None:
        return list(active), [], "no model could be ranked at this size"
    failed = [
        f"{m}: {name}"
        for m in active
        if rows[m].aggregate_rank is not None
        for name, err in rows[m].errors.items()
        if err.code != NOT_APPLICABLE
    ]
    if failed:
        return list(active), [], f"a scorer failed at this size ({failed[0]}), so no model is dropped"
    fixed = dict(rec.method.get("fixed", {}))
    if fixed:
        name = sorted(fixed)[0]
        return list(active), [], f"the sample noise of {name} was not measured ({fixed[name]})"
    note = f"kept without a rank: {', '.join(unranked)}" if unranked else ""
    keep = set(rec.confidence_set) | set(unranked)
    return [m for m in active if m in keep], [m for m in active if m not in keep], note


def budget_rank(
    request: RankPlan,
    settings: Settings,
    *,
    smp: Sample | None = None,
    device: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelCheck | None = None,
    load: ModelLoader | None = None,
    on_compute: Callable[[], None] | None = None,
    hold: Callable[[], AbstractContextManager[object]] | None = None,
    on_round: Callable[[BudgetRound], None] | None = None,
) -> Ranking:
    """The budget ranking of ``request`` (``request.budget`` set): see the module docstring.

    Args:
        smp: the full sample when already drawn (a worker rebuilds it from the job), else drawn here.
        device: where to extract (default: ``settings.resolve_device()``, checked).
        load: builds a feature model (a worker passes its LRU); ``on_compute`` is called per forward pass.
        hold: a context manager held around forward passes (a worker's device lock).
        on_round: called with each round's record as it ends (a job's progress event per round).

    Raises:
        InvalidParameterError: no budget, or one too small for the first round (``sampling.budget``).
        NoModelScoredError: no model could be ranked on the last round.
        The errors of :func:`service.pipeline.run.rank` (dataset, limits, corrupt images, store).
    """
    if request.budget is None:
        raise InvalidParameterError("budget_rank needs a request with a budget", param="sampling.budget")
    if smp is None:
        progress(ProgressEvent("dataset", None, 0, 0, "reading and fingerprinting"))
        smp = sample(request.dataset_ref, request.spec, settings, base=request.base)
        progress(
            ProgressEvent(
                "dataset", None, len(smp.data), len(smp.full), f"{len(smp.data)} of {len(smp.full)} images"
            )
        )
    device = device if device is not None else check_device(settings.resolve_device())
    store = FeatureStore(settings.store_dir)
    holder = hold if hold is not None else nullcontext
    labels = np.asarray(smp.data.labels)
    sched = plan_schedule(
        labels,
        int(smp.spec.seed),
        len(request.entries),
        request.budget,
        floor=per_class_need(request.scorers),
    )
    position = {k: i for i, k in enumerate(smp.data.keys)}
    models = {e.id: _Model(e) for e in request.entries}
    active = [e.id for e in request.entries]  # models still extracted and ranked
    failed: list[str] = []  # models without features (their rows carry the error to the end)
    rounds: list[BudgetRound] = []
    dropped_rows: list[tuple[int, int, Ranking, str]] = []  # (round, position there, ranking, model id)
    spent = 0
    fraction: float | None = sched.first
    previous = np.zeros(0, np.int64)
    last: Ranking | None = None
    stopped = "full-sample"
    while fraction is not None:
        r = len(rounds)
        rows = sched.rows(fraction)
        new = np.setdiff1d(rows, previous, assume_unique=True)
        progress(ProgressEvent("round", None, r, 0, f"round {r}: {len(rows)} images, {len(active)} models"))
        _extract_round(
            [models[m] for m in active],
            _part(smp, new, len(previous), len(rows)),
            smp,
            settings,
            device=device,
            store=store,
            progress=progress,
            cancel=cancel,
            load=load,
            on_compute=on_compute,
            hold=holder,
        )
        cost = len(new) * len(active)
        spent += cost
        runs = {m: _run_of(models[m], position) for m in [*active, *failed]}
        failed += [m for m in active if runs[m].features is None]
        usable = [m for m in active if m not in failed]
        cells: dict[str, Cells] = {}
        for m in usable:
            run = runs[m]
            inputs = run.inputs()
            assert inputs is not None and run.features is not None
            cells[m] = score_model(
                m, inputs, np.asarray(run.features.labels), request.scorers, progress=progress, cancel=cancel
            )
        whole = fraction >= 1.0 or len(usable) <= 1
        ranking: Ranking | None
        gone: list[str]
        try:
            ranking = finalise(
                _summary(smp, rows),
                request.scorers,
                [runs[e.id] for e in request.entries if e.id in runs],
                cells,
                device=device,
                progress=progress,
                cancel=cancel,
                # a round that may drop models resamples every scorer, however long that takes, so that
                # which models go on never depends on how fast this machine scored
                recommend_seconds=None if whole else math.inf,
            )
        except NoModelScoredError:
            if whole:
                raise
            ranking = None
        if ranking is None:
            kept, gone, note = usable, [], "no model could be ranked at this size"
        elif whole:
            kept, gone, note = usable, [], ""
        else:
            kept, gone, note = _judge(ranking, usable)
            order = [m.id for m in ranking.models]
            dropped_rows += [(r, order.index(m), ranking, m) for m in gone]
        rounds.append(
            BudgetRound(
                round=r,
                num_samples=len(rows),
                models=tuple(active),
                kept=tuple(kept),
                dropped=tuple(gone),
                cost=cost,
                note=note,
            )
        )
        if on_round is not None:
            on_round(rounds[-1])
        last = ranking if ranking is not None else last
        previous, active = rows, kept
        if fraction >= 1.0:
            break
        if len(kept) <= 1:
            stopped = "one-model-left"  # the recommendation is settled: nothing left to compare
            break
        fraction = sched.next_fraction(fraction, len(kept), spent)
        if fraction is None:
            stopped = "budget-spent"
    if last is None:  # every round so far failed to rank; the last one raised unless it was not last
        raise NoModelScoredError("no model could be scored on any round of the budget", param="models")
    return _document(last, rounds, dropped_rows, sched, spent, stopped, request.budget, active)


def _document(
    last: Ranking,
    rounds: Sequence[BudgetRound],
    dropped_rows: Sequence[tuple[int, int, Ranking, str]],
    sched: Schedule,
    spent: int,
    stopped: str,
    budget: float,
    active: Sequence[str],
) -> Ranking:
    """The last round's ranking with the dropped models after its ranked rows and the budget section."""
    keep = set(active)
    survivors = [m for m in last.models if m.id in keep or m.aggregate_rank is None]
    ranked = [m for m in survivors if m.aggregate_rank is not None]
    unranked = [m for m in survivors if m.aggregate_rank is None]
    dropped = []
    for r, _, ranking, model_id in sorted(dropped_rows, key=lambda t: (-t[0], t[1])):
        row = next(m for m in ranking.models if m.id == model_id)
        dropped.append(
            replace(
                row,
                ranks={},
                aggregate_rank=None,
                saturated=(),
                dropped=Dropped(
                    round=r,
                    num_samples=ranking.dataset.num_samples,
                    ranks=dict(row.ranks),
                    aggregate_rank=row.aggregate_rank,
                ),
            )
        )
    level = last.recommendation.level if last.recommendation is not None else DEFAULT_LEVEL
    section = BudgetSection(
        budget=budget,
        full_cost=sched.total * sched.models,
        cost=spent,
        stopped=stopped,
        level=level,
        rounds=tuple(rounds),
    )
    return replace(last, models=(*ranked, *dropped, *unranked), budget=section)
