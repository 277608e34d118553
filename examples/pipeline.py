"""A pipeline step that picks the model to fine-tune: rank a dataset, fail the step when there is no clear
winner, hand the chosen model id to the next step.

    ZOORANK_URL=http://zoorank:8000 ZOORANK_API_KEY=... \\
        python examples/pipeline.py data:pets/train --models 'resnet*' 'vit_*' --scorers logme leep \\
        --output chosen.json

Exit status: 0 with the chosen id on stdout (and ``{"model", "ranking_id", ...}`` in ``--output``);
2 when there is no clear winner; 1 when the service refused or failed (the reason on stderr).

"Clear winner": the ranking's ``recommendation`` when the server sends one (its ``model`` is null when
there is none); otherwise the model with the best aggregate rank, provided no other model ties with it
and no scorer that ranked it calls its top score a saturated tie.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoorank_client.sdk import Ranking, Zoorank, ZoorankError

NO_CLEAR_WINNER = 2


def choose(ranking: Ranking) -> tuple[str | None, str]:
    """The model id to hand on (None: no clear winner) and why."""
    recommendation = ranking.recommendation
    if recommendation is not None:
        model = recommendation.get("model")
        reason = str(recommendation.get("reason") or recommendation.get("confidence") or "the server's pick")
        return (model if isinstance(model, str) and model else None), reason
    ranked = ranking.ranked
    if not ranked:
        return None, "no model could be ranked"
    best = ranked[0]
    if len(ranked) > 1 and ranked[1].aggregate_rank == best.aggregate_rank:
        return None, f"{best.id} and {ranked[1].id} tie at aggregate rank {best.aggregate_rank}"
    saturated = best.get("saturated") or []
    if saturated:
        return None, f"{best.id} leads only through saturated ties of {', '.join(saturated)}"
    return best.id, f"best aggregate rank {best.aggregate_rank} of {len(ranked)} ranked models"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="dataset reference, e.g. data:pets/train")
    parser.add_argument("--models", nargs="+", help="zoo ids or patterns (default: the server's zoo)")
    parser.add_argument("--scorers", nargs="+", help="scorers (default: the server's)")
    parser.add_argument("--max-per-class", type=int, help="cap on images per class")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the ranking")
    parser.add_argument("--output", type=Path, help="write the choice as JSON here for the next step")
    args = parser.parse_args(argv)

    sampling: dict[str, Any] = {"seed": args.seed}
    if args.max_per_class is not None:
        sampling["max_per_class"] = args.max_per_class
    try:
        with Zoorank() as client:
            ranking = client.rank(
                args.dataset,
                models=args.models,
                scorers=args.scorers,
                sampling=sampling,
                timeout=args.timeout,
            )
    except ZoorankError as exc:
        print(f"zoorank: {exc}", file=sys.stderr)
        return 1
    model, reason = choose(ranking)
    if args.output is not None:
        choice = {"model": model, "reason": reason, "dataset": args.dataset}
        choice["ranking"] = [m.id for m in ranking.ranked]
        args.output.write_text(json.dumps(choice, indent=2) + "\n", encoding="utf-8")
    if model is None:
        print(f"no clear winner: {reason}", file=sys.stderr)
        return NO_CLEAR_WINNER
    print(model)
    print(f"chose {model}: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
