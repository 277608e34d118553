"""``python -m benchmark``: the offline transfer benchmark's commands.

* ``python -m benchmark quality``: score every target, compare with the stored ground truth, write
  ``quality.md``, ``quality.json`` and the plots (:mod:`benchmark.quality`).
* ``python -m benchmark baselines``: add the data-free baselines to the written report from the committed
  files alone (no scoring; :func:`benchmark.quality.refresh_baselines`).
* ``python -m benchmark calibration``: grade the recommendation (coverage of its confidence set, set
  size, reliability of ``p_best``) on every target and add it, with the default ensemble scorer's choice,
  to the written report (:func:`benchmark.quality.refresh_calibration`; ``quality`` runs it as well).
* ``python -m benchmark targets``: write the benchmark targets (:mod:`benchmark.targets`).
* ``python -m benchmark budget``: budget mode against the full ranking, ``budget.md`` and ``budget.json``
  (:mod:`benchmark.budget`).

The ground truth itself is built by ``python -m benchmark.groundtruth`` (``make groundtruth``): hours of
CPU, resumable, so it is not a subcommand one waits for.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import Annotated

import typer

from benchmark import targets as tg
from benchmark.budget import DEFAULT_BUDGET, evaluate_budget, write_budget_report
from benchmark.groundtruth import DEFAULT_RESULTS
from benchmark.quality import (
    README_MARKERS,
    evaluate,
    readme_has_block,
    refresh_baselines,
    refresh_calibration,
    summary_markdown,
    update_readme,
    write_report,
)
from estimators.errors import ZoorankError

__all__ = ["app"]

app = typer.Typer(
    name="python -m benchmark",
    help="The offline transfer benchmark: targets, and how well each scorer picks the model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _names(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")


def _fail(exc: ZoorankError) -> typer.Exit:
    sys.stderr.write(f"error: {exc.message} [{exc.code}]\n")
    return typer.Exit(1)


def _check_readme(readme: Path | None) -> None:
    """Refuse a ``--readme`` that is not a file with exactly one summary block to rewrite."""
    if readme is not None and not (readme.is_file() and readme_has_block(readme.read_text(encoding="utf-8"))):
        raise typer.BadParameter(
            f"{readme} needs exactly one block between {README_MARKERS[0]} and {README_MARKERS[1]}",
            param_hint="--readme",
        )


def _check_report(results: Path) -> None:
    """Refuse a results folder without the written report that a refresh command adds to."""
    if not (results / "quality.json").is_file():
        raise typer.BadParameter(f"no quality.json in {results}: run `python -m benchmark quality` first")


@app.command("quality")
def quality_command(
    results: Annotated[
        Path, typer.Option("--results", help="folder with groundtruth.json; the report is written here")
    ] = DEFAULT_RESULTS,
    targets: Annotated[
        list[str] | None, typer.Option("--targets", "-t", help="targets (default: all)")
    ] = None,
    scorers: Annotated[
        list[str] | None, typer.Option("--scorers", "-s", help="model scorers (default: every one)")
    ] = None,
    sizes: Annotated[
        str, typer.Option("--sizes", help="samples per class, comma-separated; 0 = the whole train split")
    ] = "10,25,50,0",
    models: Annotated[
        list[str] | None, typer.Option("--models", "-m", help="zoo ids (default: the default zoo)")
    ] = None,
    cached_only: Annotated[
        bool, typer.Option("--cached-only", help="score nothing: report what scores.json already holds")
    ] = False,
    ensembles: Annotated[
        bool, typer.Option("--ensembles/--no-ensembles", help="evaluate the ensemble scorers on 3-teams")
    ] = True,
    readme: Annotated[
        Path | None,
        typer.Option("--readme", help="also rewrite the summary block of this README (make bench-quality)"),
    ] = None,
) -> None:
    """Compare fresh scores with the stored ground truth; write quality.md, quality.json and plots."""

    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"--sizes must be integers, got {sizes!r}") from None
    if not size_list or any(s < 0 for s in size_list):
        raise typer.BadParameter("--sizes needs integers >= 0")
    _check_readme(readme)
    names = _names(targets) or list(tg.TARGETS)
    unknown = [t for t in names if t not in tg.TARGETS]
    if unknown:
        raise typer.BadParameter(f"unknown targets {unknown}; valid: {', '.join(tg.TARGETS)}")
    try:
        report = evaluate(
            results,
            targets=names,
            scorers=_names(scorers),
            sizes=size_list,
            models=_names(models),
            cached_only=cached_only,
            ensembles=ensembles,
            log=_log,
        )
        paths = write_report(report, results, names)
        if readme is not None:
            update_readme(readme, summary_markdown(report, datetime.date.today().isoformat()))
            paths.append(readme)
    except ZoorankError as exc:
        raise _fail(exc) from None
    for p in paths:
        sys.stdout.write(f"{p}\n")


@app.command("baselines")
def baselines_command(
    results: Annotated[
        Path, typer.Option("--results", help="folder with groundtruth.json, scores.json and quality.json")
    ] = DEFAULT_RESULTS,
    readme: Annotated[
        Path | None, typer.Option("--readme", help="also rewrite the summary block of this README")
    ] = None,
) -> None:
    """Add the data-free baselines to the written report (quality.md, quality.json, README block) from the
    committed files alone: no scoring, no feature extraction (`quality` computes them as well)."""

    _check_readme(readme)
    _check_report(results)
    try:
        paths = refresh_baselines(results, readme)
    except ZoorankError as exc:
        raise _fail(exc) from None
    for p in paths:
        sys.stdout.write(f"{p}\n")


@app.command("calibration")
def calibration_command(
    results: Annotated[
        Path, typer.Option("--results", help="folder with groundtruth.json, probs/ and quality.json")
    ] = DEFAULT_RESULTS,
    readme: Annotated[
        Path | None, typer.Option("--readme", help="also rewrite the summary block of this README")
    ] = None,
) -> None:
    """Grade the recommendation on every target (full and 10-shot) against the fine-tune truth and add the
    calibration section and the default ensemble scorer's choice to the written report. Rankings are
    cached in calibration.json: a rerun ranks only the targets whose data, models or scorers changed."""

    _check_readme(readme)
    _check_report(results)
    try:
        paths = refresh_calibration(results, readme, log=_log)
    except ZoorankError as exc:
        raise _fail(exc) from None
    for p in paths:
        sys.stdout.write(f"{p}\n")


@app.command("targets")
def targets_command(
    force: Annotated[bool, typer.Option("--force", help="rebuild targets that exist")] = False,
) -> None:
    """Write every benchmark target under $ZOORANK_HOME/bench/targets (from installed packages only)."""

    try:
        for name in tg.TARGETS:
            digests = tg.prepare_target(name, force=force)
            sys.stdout.write(f"{name} {digests['train'][:12]}\n")
    except ZoorankError as exc:
        raise _fail(exc) from None


@app.command("budget")
def budget_command(
    results: Annotated[
        Path, typer.Option("--results", help="folder with scores.json; budget.md and budget.json go here")
    ] = DEFAULT_RESULTS,
    targets: Annotated[
        list[str] | None, typer.Option("--targets", "-t", help="targets (default: all)")
    ] = None,
    budget: Annotated[
        float, typer.Option("--budget", min=0.0, max=1.0, help="share of the full extraction cost")
    ] = DEFAULT_BUDGET,
) -> None:
    """Rank every target in full and in budget mode; write budget.md and budget.json."""

    names = _names(targets) or list(tg.TARGETS)
    unknown = [t for t in names if t not in tg.TARGETS]
    if unknown:
        raise typer.BadParameter(f"unknown targets {unknown}; valid: {', '.join(tg.TARGETS)}")
    try:
        report = evaluate_budget(results, targets=names, budget=budget, log=_log)
        paths = write_budget_report(report, results, datetime.date.today().isoformat())
    except ZoorankError as exc:
        raise _fail(exc) from None
    for p in paths:
        sys.stdout.write(f"{p}\n")


if __name__ == "__main__":
    app()
