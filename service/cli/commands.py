"""The ``zoorank`` command line: rank a model zoo for a dataset, list models and scorers, inspect a dataset.

Results go to stdout (or ``--output``); progress bars and errors go to stderr, so ``zoorank rank ...
--format json | jq`` works. Every :class:`~estimators.errors.ZoorankError` becomes one line on stderr,
``error: <message> [<code>]``, and exit status 1 — never a traceback. Usage errors exit with 2 (click's
convention); a ranking in which no model could be scored is an error too (``no-model-scored``).
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import click
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from estimators.errors import InvalidParameterError, ZoorankError
from service.catalogue import describe_dataset, model_rows, scorer_rows
from service.cli.render import budget_line, recommendation_line, render_table, render_tables, team_line
from service.errors import SettingsError
from service.jobs.worker import run_worker
from service.pipeline.aggregate import saturation_notes
from service.pipeline.assemble import first_reason
from service.pipeline.ensembles import DEFAULT_ENSEMBLE_SCORERS, ensemble_options
from service.pipeline.run import rank
from service.pipeline.zoo_manifest import load_zoo
from service.serve import serve
from service.settings import SEED_LIMIT, Settings, parse_names
from service.text import one_line, printable
from zoo.errors import ManifestError
from zoo.features import check_device
from zoo.manifest import check_manifest

if TYPE_CHECKING:
    from service.pipeline.types import ProgressEvent

T = TypeVar("T")

#: Largest --max-per-class / --max-samples: beyond any per-job image limit, and still a 32-bit count.
MAX_CAP = 2**31 - 1

app = typer.Typer(
    name="zoorank",
    help="Rank a zoo of pre-trained models for a labelled image dataset, without fine-tuning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class RankFormat(StrEnum):
    """Output formats of ``zoorank rank``."""

    table = "table"
    json = "json"
    csv = "csv"


class ListFormat(StrEnum):
    """Output formats of the listing commands."""

    table = "table"
    json = "json"


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, markup=False)


def _console() -> Console:
    """stdout; user strings (class names, paths, ids) are never read as rich markup."""
    return Console(highlight=False, markup=False)


def _plain(text: object) -> Text:
    """A table cell that shows ``text`` as it is (never markup), control characters escaped."""
    return Text(printable(str(text)))


def _fail(message: str, code: str) -> typer.Exit:
    _stderr().print(f"error: {one_line(message)} [{code}]", soft_wrap=True)
    return typer.Exit(1)


def _debug() -> bool:
    """``ZOORANK_DEBUG`` (:attr:`Settings.debug`); False when the settings themselves are invalid."""
    try:
        return Settings.from_env().debug
    except SettingsError:
        return False


@contextmanager
def _errors() -> Iterator[None]:
    """Turn every failure into one stderr line ``error: <message> [<code>]`` and exit status 1.

    Typed zoorank errors keep their stable code. Anything else is a bug or an environment failure that
    no check anticipated; it still ends in one line (``io-error`` for the operating system's errors,
    ``out-of-memory``, ``internal-error`` otherwise) rather than a traceback, unless ``ZOORANK_DEBUG=1``.
    Ctrl-C exits with 130.
    """
    try:
        yield
    except ManifestError as exc:
        for problem in exc.problems[:-1]:  # one line per bad entry, each naming its manifest line
            _stderr().print(f"error: {one_line(problem)} [{exc.code}]", soft_wrap=True)
        raise _fail(exc.problems[-1], exc.code) from None
    except ZoorankError as exc:
        message = exc.message or type(exc).__name__
        if exc.code == "path-not-allowed":
            message += _roots_hint()
        raise _fail(message, exc.code) from None
    except KeyboardInterrupt:
        _stderr().print("interrupted")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort, click.ClickException):
        raise
    except MemoryError:
        raise _fail("out of memory; lower --batch-size or the sample size", "out-of-memory") from None
    except Exception as exc:
        if _debug():
            raise
        if isinstance(exc, OSError):
            where = f" ({exc.filename})" if exc.filename else ""
            raise _fail(f"{exc.strerror or exc}{where}", "io-error") from None
        raise _fail(
            f"unexpected {type(exc).__name__}: {exc} (a bug; ZOORANK_DEBUG=1 shows the traceback)",
            "internal-error",
        ) from None


def _roots_hint() -> str:
    """Where datasets may live, for path errors (the roots are the first thing a user needs to know)."""
    try:
        roots = Settings.from_env().named_roots
    except ZoorankError:
        return ""
    listed = ", ".join(f"{name}={path}" for name, path in roots.items())
    return (
        f" (allowed roots: {listed}, used as 'name:relative/path'; and the working directory {Path.cwd()}; "
        "set ZOORANK_DATA_ROOTS=name=/path:... to change them)"
    )


def _settings(**overrides: Any) -> Settings:
    settings = Settings.from_env(**overrides)
    load_zoo(settings)
    return settings


def _emit(text: str, output: Path | None) -> None:
    """Write ``text`` to ``output`` (created or replaced) or to stdout."""
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _fail(f"cannot write {output}: {reason}", "output-error") from None


def _table_text(table: Table, *, width: int | None = None) -> str:
    """Render a rich table to plain text (for ``--output`` files and non-terminal stdout)."""
    buf = io.StringIO()
    Console(file=buf, width=width or 200, color_system=None, highlight=False, markup=False).print(table)
    return buf.getvalue()


def _print_table(table: Table, output: Path | None, *, footer: str | None = None) -> None:
    """Print ``table`` (and a plain ``footer`` line under it) to stdout, or write both to ``output``."""
    if output is None:
        console = Console(highlight=False, markup=False, width=None if sys.stdout.isatty() else 200)
        console.print(table)
        if footer is not None:
            console.print(Text(footer), soft_wrap=True)
    else:
        _emit(_table_text(table) + ("" if footer is None else footer + "\n"), output)


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated option values, flattened; None when the option was not given."""
    if not values:
        return None
    out: list[str] = []
    for v in values:
        out.extend(parse_names(v))
    return out


def _parse_params(values: list[str] | None) -> dict[str, dict[str, Any]]:
    """``--param scorer.key=value`` pairs -> ``{scorer: {key: value}}`` (JSON-parsed values)."""
    out: dict[str, dict[str, Any]] = {}
    for item in values or []:
        head, sep, raw = item.partition("=")
        scorer, dot, key = head.partition(".")
        if not sep or not dot or not scorer.strip() or not key.strip():
            raise InvalidParameterError(f"--param {item!r} must look like SCORER.KEY=VALUE", param="param")
        try:
            value: Any = json.loads(raw, parse_constant=_refuse_constant)
        except json.JSONDecodeError:
            value = raw
        except (ValueError, RecursionError) as exc:  # NaN / Infinity, or absurdly deep nesting
            raise InvalidParameterError(f"--param {item!r}: {exc}", param="param") from None
        if not _finite(value):
            raise InvalidParameterError(f"--param {item!r}: numbers must be finite", param="param")
        out.setdefault(scorer.strip(), {})[key.strip()] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid parameter value")


def _finite(value: Any) -> bool:
    """Whether every number inside a JSON value is finite (``1e999`` parses as inf)."""
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


# --- zoorank scorers ----------------------------------------------------------------------------


@app.command("scorers")
def scorers_command(
    fmt: Annotated[ListFormat, typer.Option("--format", "-f", help="table or json")] = ListFormat.table,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind", metavar="KIND", help="only scorers of this kind: model, set, ensemble or baseline"
        ),
    ] = None,
) -> None:
    """List the transferability scorers (name, kind, inputs, parameters, version, paper)."""
    with _errors():
        if kind is not None and kind not in ("model", "set", "ensemble", "baseline"):
            raise InvalidParameterError(
                f"--kind must be model, set, ensemble or baseline, got {kind!r}", param="kind"
            )
        rows = scorer_rows(_settings(), kind)  # type: ignore[arg-type]
        if fmt is ListFormat.json:
            _emit(json.dumps(rows, indent=2, default=str), None)
            return
        table = Table(
            title="zoorank scorers (higher is better unless marked ↓; * = run by default)",
            title_justify="left",
        )
        for col in ("name", "kind", "needs", "uses", "params", "version", "summary"):
            table.add_column(col, overflow="fold")
        for row in rows:
            params = ", ".join(f"{k}={v!r}" for k, v in row["params"].items())
            cells = (
                row["name"] + ("" if row["higher_is_better"] else " ↓") + (" *" if row["default"] else ""),
                row["kind"],
                ", ".join(n for n in row["needs"] if n != "labels") or "-",
                ", ".join(row["optional"]) or "-",
                params or "-",
                row["version"],
                row["summary"],
            )
            table.add_row(*(_plain(c) for c in cells))
        _print_table(table, None)


# --- zoorank models -----------------------------------------------------------------------------


@app.command("models")
def models_command(
    fmt: Annotated[ListFormat, typer.Option("--format", "-f", help="table or json")] = ListFormat.table,
    pattern: Annotated[
        str, typer.Option("--pattern", metavar="PATTERN", help="fnmatch pattern on the model id")
    ] = "*",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="TAG", help="only entries with this tag (repeatable)")
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="validate the zoo manifest, load each entry's weights (digest, shapes); exit 1 on failure",
        ),
    ] = False,
    manifest: Annotated[
        Path | None,
        typer.Option("--manifest", metavar="FILE", help="the manifest --check reads (ZOORANK_ZOO_MANIFEST)"),
    ] = None,
) -> None:
    """List the model zoo (JSON: a list of entries, each with its id and metadata).

    Entries of the zoo manifest (ZOORANK_ZOO_MANIFEST) carry the tag ``manifest`` and say which manifest
    line declared them. ``--check`` verifies a manifest instead of listing the zoo.
    """
    if check:
        _check_manifest(manifest, fmt)
        return
    with _errors():
        _settings()  # registers the manifest's entries
        rows = model_rows(pattern, tags=tuple(tag or ()))
        if fmt is ListFormat.json:
            _emit(json.dumps(rows, indent=2, default=str), None)
            return
        table = Table(title=f"zoorank models ({len(rows)})", title_justify="left")
        for col in ("id", "source", "C_s", "D", "input", "weights", "present", "tags"):
            table.add_column(col, overflow="fold")
        for row in rows:
            found = row["weights"]["present"]
            pre = row["preprocessing"]
            cells = (
                row["id"],
                row["source"],
                "-" if row["num_source_classes"] is None else str(row["num_source_classes"]),
                str(row["feature_dim"]),
                f"{pre['input_size']}px/{pre['channels']}ch",
                row["weights"]["origin"],
                "n/a" if found is None else ("yes" if found else "no"),
                ",".join(row["tags"]),
            )
            table.add_row(*(_plain(c) for c in cells))
        _print_table(table, None)


def _check_manifest(manifest: Path | None, fmt: ListFormat) -> None:
    """``zoorank models --check``: each entry loaded for real; exit 1 when any fails."""
    with _errors():
        settings = Settings.from_env()
        path = manifest or settings.zoo_manifest
        if path is None:
            raise _fail(
                "no manifest to check: pass --manifest FILE or set ZOORANK_ZOO_MANIFEST", "no-manifest"
            )
        results = check_manifest(path, settings.models_root)
        if fmt is ListFormat.json:
            _emit(json.dumps([r.to_dict() for r in results], indent=2), None)
        else:
            table = Table(title=f"zoo manifest {path} ({len(results)} entries)", title_justify="left")
            for col in ("id", "line", "ok", "detail"):
                table.add_column(col, overflow="fold")
            for r in results:
                table.add_row(
                    _plain(r.id), _plain(str(r.line)), _plain("yes" if r.ok else "NO"), _plain(r.detail)
                )
            _print_table(table, None)
        failed = [r for r in results if not r.ok]
        if failed:
            raise _fail(
                f"{len(failed)} of {len(results)} manifest entries failed: "
                + ", ".join(f"{r.id} (line {r.line})" for r in failed),
                "manifest-check-failed",
            )


# --- zoorank inspect ----------------------------------------------------------------------------


@app.command("inspect")
def inspect_command(
    dataset: Annotated[
        str,
        typer.Argument(metavar="DATASET", help="dataset reference: folder, .csv/.parquet manifest or .npz"),
    ],
    fmt: Annotated[ListFormat, typer.Option("--format", "-f", help="table or json")] = ListFormat.table,
    decode: Annotated[
        bool, typer.Option("--decode/--no-decode", help="decode every image to count corrupt ones")
    ] = True,
) -> None:
    """Summarise a dataset: reader, classes and counts, content fingerprint, corrupt images."""
    with _errors():
        summary = describe_dataset(dataset, _settings(), base=Path.cwd(), decode=decode)
        if fmt is ListFormat.json:
            _emit(json.dumps(summary, indent=2), None)
            return
        console = _console()
        corrupt = summary["corrupt"]
        lines = [
            ("reference", summary["reference"]),
            ("location", summary["location"]),
            ("reader", summary["reader"]),
            ("images", str(summary["num_samples"])),
            ("classes", str(summary["num_classes"])),
            ("fingerprint", summary["fingerprint"]),
            ("corrupt", "not checked (--no-decode)" if corrupt is None else str(corrupt)),
        ]
        head = Table(show_header=False, box=None)
        head.add_column(style="bold")
        head.add_column(overflow="fold")
        for k, v in lines:
            head.add_row(_plain(k), _plain(v))
        console.print(head)
        counts = Table(title="images per class", title_justify="left")
        counts.add_column("class")
        counts.add_column("images", justify="right")
        for name, n in summary["class_counts"].items():
            counts.add_row(_plain(name), _plain(n))
        console.print(counts)
        for item in summary["corrupt_examples"]:
            line = f"corrupt: {item['key']}: {item['reason']} [{item['code']}]"
            console.print(one_line(line), soft_wrap=True)
        if summary["over_threshold"]:
            console.print(
                f"warning: more than {summary['corrupt_threshold']:g} of the images are corrupt; "
                "`zoorank rank` will refuse this dataset (ZOORANK_CORRUPT_THRESHOLD)",
                soft_wrap=True,
            )


# --- zoorank rank -------------------------------------------------------------------------------


class _RateColumn(ProgressColumn):
    """Images per second of a model's extraction task (scoring tasks count scorers, not images)."""

    def render(self, task: Task) -> Text:
        if task.fields.get("kind") == "score":
            return Text("")
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} img/s", style="progress.data.speed")


class _ProgressView:
    """Maps ranking :class:`ProgressEvent` objects onto rich progress bars on stderr: one extraction bar
    and one scoring bar per model (scorers done of total, the scorer running, elapsed time and ETA), and
    one bar for the set-level scorers."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}
        self.score_tasks: dict[str, TaskID] = {}
        self.scoring: TaskID | None = None

    def _task(self, model_id: str, total: int) -> TaskID:
        if model_id not in self.tasks:
            self.tasks[model_id] = self.progress.add_task(model_id, total=total or None)
        return self.tasks[model_id]

    def _score(self, event: ProgressEvent) -> None:
        if event.model_id is None:  # set-level scorers: one bar for all models
            what = f"scoring all models: {event.message}"
            if self.scoring is None:
                self.scoring = self.progress.add_task(what, total=event.total or None, kind="score")
            self.progress.update(self.scoring, description=what, completed=event.done)
            return
        what = f"scoring {event.model_id}: {event.message}"
        if event.folds_total:
            what += f" fold {event.folds_done}/{event.folds_total}"
        task = self.score_tasks.get(event.model_id)
        if task is None:  # models are scored one after another: the previous ones are finished
            for model_id, previous in self.score_tasks.items():
                self._finish_scoring(previous, model_id)
            task = self.progress.add_task(what, total=event.total or None, kind="score")
            self.score_tasks[event.model_id] = task
        self.progress.update(task, description=what, completed=event.done, total=event.total or None)

    def _finish_scoring(self, task: TaskID, model_id: str | None) -> None:
        total = self.progress.tasks[task].total or 1
        label = f"scored {model_id}" if model_id else "scoring done"
        self.progress.update(task, description=label, total=total, completed=total)

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage == "dataset" and event.total:
            self.progress.console.print(f"dataset: {event.message}", markup=False, highlight=False)
        elif event.stage == "score":
            self._score(event)
        elif event.stage == "done":
            for model_id, task in self.score_tasks.items():
                self._finish_scoring(task, model_id)
            if self.scoring is not None:
                self._finish_scoring(self.scoring, None)
        elif event.model_id is None:
            return
        elif event.stage == "extract":
            task = self._task(event.model_id, event.total)
            self.progress.update(task, completed=event.done, total=event.total)
        elif event.stage == "cached":
            task = self._task(event.model_id, event.total)
            self.progress.update(
                task, completed=event.total, total=event.total, description=f"{event.model_id} (cached)"
            )
        elif event.stage == "model-done":
            if event.model_id in self.tasks:
                task = self.tasks[event.model_id]
                self.progress.update(task, completed=self.progress.tasks[task].total)
            if event.model_id in self.score_tasks:
                self._finish_scoring(self.score_tasks[event.model_id], event.model_id)


def _progress_bars(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


@app.command("rank")
def rank_command(
    dataset: Annotated[
        str,
        typer.Argument(metavar="DATASET", help="dataset reference: folder, .csv/.parquet manifest or .npz"),
    ],
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models",
            "-m",
            metavar="ID|PATTERN",
            help="zoo ids or fnmatch patterns (repeat or comma-separate)",
        ),
    ] = None,
    scorers: Annotated[
        list[str] | None,
        typer.Option("--scorers", "-s", metavar="NAME", help="scorers (repeat or comma-separate)"),
    ] = None,
    max_per_class: Annotated[
        int | None,
        typer.Option(
            "--max-per-class", min=0, max=MAX_CAP, metavar="N", help="per-class sample cap (0: no cap)"
        ),
    ] = None,
    max_samples: Annotated[
        int | None, typer.Option("--max-samples", min=1, max=MAX_CAP, metavar="N", help="overall sample cap")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", min=0, max=SEED_LIMIT - 1, metavar="N", help="sampling seed")
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            metavar="FRACTION",
            help="budget mode: forward at most this fraction, in (0, 1], of the images x models a full "
            "ranking forwards (rounds on growing nested samples drop the models separated from the best)",
        ),
    ] = None,
    fmt: Annotated[RankFormat, typer.Option("--format", "-f", help="table, json or csv")] = RankFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="write the result to this file")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", metavar="SCORER.KEY=VALUE", help="scorer parameter (repeatable)"),
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, metavar="N", help="images per batch")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="print nothing but the result and errors")
    ] = False,
) -> None:
    """Rank zoo models for a labelled dataset: per-scorer scores and ranks, and an aggregate rank.

    The aggregate rank is the mean of a model's per-scorer ranks (1 = best, ties share the mean rank)
    over the scorers that could score it. Progress goes to stderr, the result to stdout or --output.
    """
    with _errors():
        settings = _settings(device=device, batch_size=batch_size)
        check_device(settings.resolve_device())  # before any weights are loaded
        params = _parse_params(param)
        started = time.perf_counter()
        bars = _progress_bars(enabled=not quiet)
        with bars, _quiet_logging(quiet):
            ranking = rank(
                dataset,
                models=_split(models),
                scorers=_split(scorers),
                max_per_class=max_per_class,
                max_samples=max_samples,
                seed=seed,
                settings=settings,
                progress=None if quiet else _ProgressView(bars),
                scorer_params=params,
                base=Path.cwd(),
                budget=budget,
            )
        if fmt is RankFormat.json:
            _emit(ranking.to_json(), output)
        elif fmt is RankFormat.csv:
            _emit(ranking.to_csv(), output)
        else:
            _print_table(render_table(ranking), output, footer=recommendation_line(ranking))
        if not quiet:
            for note in saturation_notes(ranking):
                _stderr().print(f"note: {note}", soft_wrap=True)
            rounds = budget_line(ranking)
            if rounds is not None:
                _stderr().print(Text(rounds), soft_wrap=True)
            _stderr().print(f"ranked {len(ranking.models)} models in {time.perf_counter() - started:.1f} s")


@contextmanager
def _quiet_logging(quiet: bool) -> Iterator[None]:
    """Under ``--quiet``, library log warnings (e.g. an unusable stat cache) and Python warnings are not
    printed either: stderr carries nothing but errors."""
    if not quiet:
        yield
        return
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():  # library advice (torch, Pillow) is not an error either
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


# --- zoorank ensemble ---------------------------------------------------------------------------


class TeamMode(StrEnum):
    """Team searches of ``zoorank ensemble``."""

    greedy = "greedy"
    exhaustive = "exhaustive"


@app.command("ensemble")
def ensemble_command(
    dataset: Annotated[
        str,
        typer.Argument(metavar="DATASET", help="dataset reference: folder, .csv/.parquet manifest or .npz"),
    ],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=8, metavar="N", help="team size")] = 3,
    models: Annotated[
        list[str] | None,
        typer.Option("--models", "-m", metavar="ID|PATTERN", help="the pool: zoo ids or fnmatch patterns"),
    ] = None,
    scorers: Annotated[
        list[str] | None,
        typer.Option(
            "--scorers", "-s", metavar="NAME", help="ensemble scorers (default osborn,ens_eep,mean_leep)"
        ),
    ] = None,
    mode: Annotated[TeamMode, typer.Option("--mode", help="greedy or exhaustive")] = TeamMode.greedy,
    top: Annotated[
        int, typer.Option("--top", min=1, max=50, metavar="N", help="teams listed by an exhaustive search")
    ] = 5,
    max_per_class: Annotated[
        int | None,
        typer.Option(
            "--max-per-class", min=0, max=MAX_CAP, metavar="N", help="per-class sample cap (0: no cap)"
        ),
    ] = None,
    max_samples: Annotated[
        int | None, typer.Option("--max-samples", min=1, max=MAX_CAP, metavar="N", help="overall sample cap")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", min=0, max=SEED_LIMIT - 1, metavar="N", help="sampling seed")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", metavar="SCORER.KEY=VALUE", help="ensemble scorer parameter (repeatable)"),
    ] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", "-f", help="table or json")] = ListFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="write the result to this file")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="print nothing but the result and errors")
    ] = False,
) -> None:
    """Select a team of k models with ensemble scorers (OSBORN, ensemble EEP, mean LEEP).

    Features are extracted (or reused from the store) as for `rank`; the per-model part runs LEEP only.
    JSON output is {"dataset": ..., "ensembles": ...}, the ranking document's sections.
    """
    with _errors():
        options = ensemble_options(
            k=k,
            scorers=_split(scorers) or list(DEFAULT_ENSEMBLE_SCORERS),
            mode=mode.value,
            top=top,
            params=_parse_params(param),
        )
        settings = _settings(device=device)
        check_device(settings.resolve_device())
        started = time.perf_counter()
        bars = _progress_bars(enabled=not quiet)
        with bars, _quiet_logging(quiet):
            ranking = rank(
                dataset,
                models=_split(models),
                scorers=["leep"],
                max_per_class=max_per_class,
                max_samples=max_samples,
                seed=seed,
                settings=settings,
                progress=None if quiet else _ProgressView(bars),
                base=Path.cwd(),
                ensemble=options,
            )
        section = ranking.ensembles
        if section is None:
            raise _fail(f"no model could be used; {first_reason(ranking)}", "nothing-ranked")
        if fmt is ListFormat.json:
            doc = {"dataset": ranking.dataset.to_dict(), "ensembles": section.to_dict()}
            _emit(json.dumps(doc, indent=2, allow_nan=False), output)
        else:
            tables = render_tables(section)
            line = team_line(section)
            if output is None:
                for i, table in enumerate(tables):
                    _print_table(table, None, footer=line if i == len(tables) - 1 else None)
            else:
                _emit("".join(_table_text(t) for t in tables) + ("" if line is None else line + "\n"), output)
        if not quiet:
            for result in section.results:
                for model_id, why in result.ineligible.items():
                    _stderr().print(
                        f"note: {result.scorer}: {model_id}: {why.message}", soft_wrap=True, markup=False
                    )
            _stderr().print(
                f"selected teams over {len(ranking.models)} models in {time.perf_counter() - started:.1f} s"
            )
        failed = [r for r in section.results if r.error is not None]
        if len(failed) == len(section.results):
            first = failed[0].error
            assert first is not None
            raise _fail(
                f"no ensemble scorer selected a team; {failed[0].scorer}: {first.message}", first.code
            )


# --- zoorank serve ------------------------------------------------------------------------------


@app.command("serve")
def serve_command(
    host: Annotated[
        str | None, typer.Option("--host", metavar="HOST", help="interface to listen on (ZOORANK_HOST)")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, metavar="N", help="TCP port (ZOORANK_PORT)")
    ] = None,
) -> None:
    """Serve the HTTP API (/v1). Without REDIS_URL, also a private redis-server and one worker.

    With REDIS_URL set, only the API runs here and workers (`zoorank worker`) share that Redis.
    """
    with _errors():
        serve(_settings(host=host, port=port))


# --- zoorank worker -----------------------------------------------------------------------------


@app.command("worker")
def worker_command(
    device: Annotated[
        str | None,
        typer.Option("--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:N (ZOORANK_DEVICE)"),
    ] = None,
    queues: Annotated[
        str, typer.Option("--queues", metavar="Q[,Q]", help="queues to consume: extract, score")
    ] = "extract,score",
    imports: Annotated[
        list[str] | None,
        typer.Option(
            "--import", metavar="MODULE", help="module to import first, e.g. one registering zoo entries"
        ),
    ] = None,
) -> None:
    """Run a job worker (Dramatiq on REDIS_URL) until SIGTERM/SIGINT: one message at a time on DEVICE.

    Start one per GPU (`--device cuda:N --queues extract`) and CPU workers for `--queues score`, on any
    number of machines sharing one Redis and one feature store (see the README's scale-out section).
    """
    with _errors():
        status = run_worker(_settings(), device=device, queues=queues.split(","), imports=imports or ())
    raise typer.Exit(status)
