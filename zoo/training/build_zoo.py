"""Build the self-trained zoo reproducibly: ``python -m zoo.training.build_zoo [--only ID] [--check]``.

For every :data:`SPECS` entry (3 architectures x 3 sources, plus one random-initialisation control) this
loads the source data (:mod:`zoo.training.sources`), trains the network bit-reproducibly
(:mod:`zoo.training.train`), writes its weights as float16 safetensors with sorted keys, reloads them,
measures source accuracy and computes the source profile (:mod:`zoo.training.profiles`) **from the
reloaded float16 weights** (what users get), and records everything in ``zoo/artifacts/manifest.json``:
a JSON list, sorted by id, of objects with ``id, arch, head, feature_layer, source, file, sha256,
num_classes, feature_dim, preprocessing, profile, license, citation, tags, meta`` (the profile's digest
is ``meta.profile_sha256``). Paths are repository-relative and start with ``zoo/``, as
``zoo.entries.trained``, which registers the entries from the manifest, requires.

``--check`` rebuilds into a temporary directory and compares the weights and profile digests and the
records with the manifest, and the committed files with their recorded digests; it exits 1 on any
difference. ``--only ID`` restricts a build or check to one entry (a build then rewrites only that
record).

The control ``cnn4.random_init`` is never trained: it is the seeded initial network (BN statistics at
their defaults), with a 10-way head. It has no source data of its own, so its profile is computed on the
Fashion-MNIST training subset (recorded as ``meta.profile_source``) so PED/OSBORN can treat every
self-trained entry alike.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from zoo._api import Preprocessing
from zoo._hashing import file_sha256
from zoo.archs import build, get_arch
from zoo.training import sources
from zoo.training.profiles import MAX_SAMPLE, extract, profile_from_outputs, save_profile
from zoo.training.train import MEAN, STD, TrainConfig, accuracy, deterministic, fit

__all__ = [
    "MANIFEST",
    "REPO_DIR",
    "SPECS",
    "WEIGHTS_DIR",
    "ModelSpec",
    "SourceSpec",
    "build_entry",
    "load_weights",
    "main",
    "read_manifest",
    "save_weights",
]

ZOO_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = ZOO_DIR.parent
WEIGHTS_DIR = ZOO_DIR / "artifacts"
MANIFEST = WEIGHTS_DIR / "manifest.json"
WEIGHTS_FORMAT = "zoorank-weights/1"

PREPROCESSING = Preprocessing(input_size=32, mean=MEAN, std=STD, channels=3, interpolation="bilinear")


@dataclass(frozen=True)
class SourceSpec:
    """One source dataset as the zoo uses it.

    Attributes:
        name: :mod:`zoo.training.sources` name.
        train_limit: class-balanced training subset size (None: the whole ``train`` split).
        test_limit: class-balanced evaluation subset size (None: the whole ``test`` split).
        description: human-readable source, copied into the entry.
        data_license: licence of the images.
        citation: where the data comes from.
    """

    name: str
    train_limit: int | None
    test_limit: int | None
    description: str
    data_license: str
    citation: str


SOURCE_SPECS: dict[str, SourceSpec] = {
    "fashion_mnist": SourceSpec(
        name="fashion_mnist",
        train_limit=6000,
        test_limit=2000,
        description="Fashion-MNIST (Debian dataset-fashion-mnist), 6,000 class-balanced training images, "
        "10 classes, resized to 32 px",
        data_license="MIT",
        citation="Xiao, Rasul & Vollgraf (2017), Fashion-MNIST: a Novel Image Dataset for Benchmarking "
        "Machine Learning Algorithms, arXiv:1708.07747",
    ),
    "glyphs": SourceSpec(
        name="glyphs",
        train_limit=None,
        test_limit=None,
        description="letters A-Z rendered from 60 of the 86 Latin fonts of Debian font packages "
        "(clean + 3 seeded augmentations each), 26 classes; the other fonts are held out",
        data_license="fonts: OFL-1.1, GPL/AGPL with font exception, Bitstream Vera (see each Debian "
        "package's copyright file)",
        citation="notMNIST recipe (Bulatov 2011) on Debian fonts-noto-core, fonts-dejavu-core, "
        "fonts-liberation2, fonts-urw-base35, fonts-bwht, fonts-breip, fonts-dkg-handwriting, "
        "fonts-humor-sans, fonts-klee",
    ),
    "emoji": SourceSpec(
        name="emoji",
        train_limit=None,
        test_limit=None,
        description="Google Noto emoji from npm emoji-datasource-google 16.0.0 (80 % of 1,636 emoji, "
        "clean + 3 seeded augmentations each), labelled by category (8 classes), 32 px on white",
        data_license="Apache-2.0 (Noto Emoji images); package MIT",
        citation="Google Noto Emoji, packaged by iamcal/emoji-data (npm emoji-datasource-google 16.0.0)",
    ),
}

ARCH_CITATIONS = {
    "cnn4": "plain 4-layer CNN",
    "resnet8": "He, Zhang, Ren & Sun (2016), Deep Residual Learning for Image Recognition (narrow ResNet-8)",
    "mobilenet_tiny": "Sandler et al. (2018), MobileNetV2: Inverted Residuals and Linear Bottlenecks "
    "(tiny 32-px variant)",
}


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry to build.

    Attributes:
        id: ``arch.tag`` zoo id.
        arch: :mod:`zoo.archs` name.
        source: :data:`SOURCE_SPECS` key (for the control: the data its profile is computed on).
        config: training hyper-parameters (for the control only ``seed`` is used).
        control: a random-initialisation control (not trained).
    """

    id: str
    arch: str
    source: str
    config: TrainConfig = field(default_factory=TrainConfig)
    control: bool = False


SPECS: tuple[ModelSpec, ...] = (
    *(
        ModelSpec(id=f"{arch}.{source}", arch=arch, source=source, config=TrainConfig(epochs=2, seed=0))
        for source in ("fashion_mnist", "glyphs", "emoji")
        for arch in ("cnn4", "resnet8", "mobilenet_tiny")
    ),
    ModelSpec(id="cnn4.random_init", arch="cnn4", source="fashion_mnist", control=True),
)


def save_weights(model: nn.Module, path: Path, *, meta: dict[str, Any] | None = None) -> None:
    """Save ``model``'s state dict as safetensors: floating tensors as float16, keys sorted.

    Integer buffers (BN ``num_batches_tracked``) keep their dtype. ``meta`` goes into the header as one
    sorted-keys JSON string (with the format tag), so equal weights and meta give equal bytes.
    """
    tensors = {
        k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous()
        for k, v in sorted(model.state_dict().items())
    }
    # one metadata key only: safetensors writes several keys in hash-map order (not deterministic)
    header = json.dumps({"format": WEIGHTS_FORMAT, **(meta or {})}, sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"zoorank": header})


def load_weights(arch: str, num_classes: int, path: Path) -> nn.Module:
    """Build ``arch`` and load float16 weights from ``path`` (strict), as a float32 eval-mode network."""
    model = build(arch, num_classes)
    state = {
        k: (v.to(torch.float32) if v.is_floating_point() else v) for k, v in load_file(str(path)).items()
    }
    model.load_state_dict(state, strict=True)
    return model.eval()


def read_manifest(path: Path = MANIFEST) -> list[dict[str, Any]]:
    """The manifest's records (empty when the file does not exist)."""
    if not path.exists():
        return []
    records = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(records, list):
        raise ValueError(f"{path}: the manifest must be a JSON list")
    return records


def write_manifest(records: Sequence[dict[str, Any]], path: Path = MANIFEST) -> None:
    """Write records sorted by id, keys sorted, 2-space indent (deterministic text), atomically.

    Atomic because ``import zoo`` parses the manifest: a half-written file would break every import,
    including this script's next run.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(records, key=lambda r: str(r["id"]))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(ordered, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


class _DataCache:
    """Loads each (source, split) once per process."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], sources.SourceData] = {}

    def get(self, name: str, split: sources.Split) -> sources.SourceData:
        key = (name, split)
        if key not in self._data:
            spec = SOURCE_SPECS[name]
            limit = spec.train_limit if split == "train" else spec.test_limit
            self._data[key] = sources.load_source(name, split, limit=limit)
        return self._data[key]


def _log(msg: str) -> None:
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def build_entry(
    spec: ModelSpec,
    out_dir: Path,
    *,
    train: sources.SourceData,
    test: sources.SourceData,
    source_spec: SourceSpec,
    max_profile_rows: int = MAX_SAMPLE,
) -> dict[str, Any]:
    """Train (or, for a control, initialise) one model, write its weights and profile, return its record.

    Args:
        spec: what to build.
        out_dir: the ``weights`` directory; writes ``<id>.safetensors`` and ``profiles/<id>.safetensors``.
        train, test: source data (uint8 ``(N, 32, 32, 3)``); the profile is computed on ``train``.
        source_spec: descriptions and licences for the record.
        max_profile_rows: cap on the profile's feature sample.

    Returns:
        The manifest record (paths repository-relative, ``zoo/artifacts/...``).
    """
    arch = get_arch(spec.arch)
    num_classes = train.num_classes
    result_steps, losses = 0, []
    if spec.control:
        with deterministic():
            torch.manual_seed(spec.config.seed)
            model = build(spec.arch, num_classes).eval()
    else:
        result = fit(spec.arch, train.images, train.labels, num_classes, spec.config, log=_log)
        model, result_steps, losses = result.model, result.steps, result.losses
    weights_path = out_dir / f"{spec.id}.safetensors"
    profile_path = out_dir / "profiles" / f"{spec.id}.safetensors"
    save_weights(model, weights_path, meta={"id": spec.id, "arch": spec.arch, "num_classes": num_classes})
    with deterministic():
        reloaded = load_weights(spec.arch, num_classes, weights_path)
        # one pass over the training images gives both the profile and the training accuracy
        features, logits = extract(reloaded, arch.head, train.images)
        train_acc = float((logits.argmax(1) == train.labels).to(torch.float64).mean())
        test_acc = accuracy(reloaded, test.images, test.labels)
        profile = profile_from_outputs(features, logits, train.labels, max_rows=max_profile_rows)
    save_profile(profile, profile_path)
    if profile.feature_dim != arch.feature_dim:
        raise RuntimeError(f"{spec.id}: features are {profile.feature_dim}-d, arch says {arch.feature_dim}")
    params = sum(p.numel() for p in reloaded.parameters())
    meta: dict[str, Any] = {
        "params": params,
        "train_acc": round(train_acc, 4),
        "test_acc": round(test_acc, 4),
        "train_images": len(train),
        "test_images": len(test),
        "source_dataset": spec.source,
        "source_classes": list(train.class_names),
        "seed": spec.config.seed,
        "profile_rows": int(profile.features.shape[0]),
        "file_bytes": weights_path.stat().st_size,
        "profile_sha256": file_sha256(profile_path),
    }
    if spec.control:
        meta.update(epochs=0, profile_source=spec.source)
        source = (
            f"none (random initialisation, seed {spec.config.seed}); profile on {source_spec.description}"
        )
        license_, citation = "Apache-2.0 (random initialisation, no training data)", ARCH_CITATIONS[spec.arch]
        tags = ["control"]
    else:
        cfg = spec.config
        meta.update(
            epochs=cfg.epochs,
            steps=result_steps,
            final_loss=round(losses[-1], 4) if losses else None,
            optimizer=cfg.optimizer,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            batch_size=cfg.batch_size,
        )
        source = source_spec.description
        license_ = f"Apache-2.0 (weights); data: {source_spec.data_license}"
        citation = f"{ARCH_CITATIONS[spec.arch]}; trained with zoorank `make zoo` on {source_spec.citation}"
        tags = ["trained"]
    rel = WEIGHTS_DIR.relative_to(REPO_DIR)
    record = {
        "id": spec.id,
        "arch": spec.arch,
        "head": arch.head,
        "feature_layer": f"input of {arch.head} (after global average pooling)",
        "source": source,
        "file": f"{rel.as_posix()}/{weights_path.name}",
        "sha256": file_sha256(weights_path),
        "num_classes": num_classes,
        "feature_dim": arch.feature_dim,
        "preprocessing": PREPROCESSING.to_dict(),
        "profile": f"{rel.as_posix()}/profiles/{profile_path.name}",
        "license": license_,
        "citation": citation,
        "tags": tags,
        "meta": meta,
    }
    # JSON round trip: tuples become lists, exactly as the manifest reads back
    normalised: dict[str, Any] = json.loads(json.dumps(record))
    return normalised


def build_all(specs: Sequence[ModelSpec], out_dir: Path) -> list[dict[str, Any]]:
    """Build ``specs`` into ``out_dir`` (data loaded once per source), logging per-model wall times."""
    cache = _DataCache()
    records = []
    for spec in specs:
        t0 = time.perf_counter()
        train, test = cache.get(spec.source, "train"), cache.get(spec.source, "test")
        t1 = time.perf_counter()
        _log(f"{spec.id}: {len(train)} train / {len(test)} test images ({t1 - t0:.1f} s loading)")
        record = build_entry(spec, out_dir, train=train, test=test, source_spec=SOURCE_SPECS[spec.source])
        m = record["meta"]
        _log(
            f"{spec.id}: train_acc {m['train_acc']:.3f} test_acc {m['test_acc']:.3f} "
            f"({time.perf_counter() - t1:.1f} s)"
        )
        records.append(record)
    return records


def check(specs: Sequence[ModelSpec], manifest: Path = MANIFEST) -> list[str]:
    """Rebuild ``specs`` in a temporary directory; return the differences from the manifest (empty = ok)."""
    committed = {r["id"]: r for r in read_manifest(manifest)}
    problems: list[str] = []
    for spec in specs:
        rec = committed.get(spec.id)
        if rec is None:
            problems.append(f"{spec.id}: not in {manifest}")
            continue
        for key, digest in (("file", rec["sha256"]), ("profile", rec["meta"]["profile_sha256"])):
            path = REPO_DIR / rec[key]
            if not path.exists() or file_sha256(path) != digest:
                problems.append(f"{spec.id}: committed {rec[key]} does not match its recorded digest")
    with tempfile.TemporaryDirectory() as tmp:
        for new in build_all(specs, Path(tmp)):
            old = committed.get(new["id"])
            if old is None:
                continue
            for name, a, b in (
                ("weights", new["sha256"], old["sha256"]),
                ("profile", new["meta"]["profile_sha256"], old["meta"].get("profile_sha256", "")),
            ):
                if a != b:
                    problems.append(f"{new['id']}: rebuilt {name} sha256 {a[:16]} != manifest {b[:16]}")
            fields = sorted(k for k in set(new) | set(old) if k != "meta" and new.get(k) != old.get(k))
            meta = sorted(
                k for k in set(new["meta"]) | set(old["meta"]) if new["meta"].get(k) != old["meta"].get(k)
            )
            if fields or meta:
                problems.append(f"{new['id']}: record differs in {fields + [f'meta.{k}' for k in meta]}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m zoo.training.build_zoo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--only", metavar="ID", help="build or check only this entry id")
    parser.add_argument("--check", action="store_true", help="rebuild and compare with the manifest")
    parser.add_argument("--list", action="store_true", help="list the entry ids and exit")
    args = parser.parse_args(argv)
    specs = list(SPECS)
    if args.list:
        _log("\n".join(s.id for s in specs))
        return 0
    if args.only:
        specs = [s for s in specs if s.id == args.only]
        if not specs:
            parser.error(f"unknown id {args.only!r}; valid: {', '.join(s.id for s in SPECS)}")
    t0 = time.perf_counter()
    if args.check:
        problems = check(specs)
        for p in problems:
            _log(f"MISMATCH {p}")
        _log(f"check: {len(specs)} entries, {len(problems)} problems ({time.perf_counter() - t0:.1f} s)")
        return 1 if problems else 0
    records = build_all(specs, WEIGHTS_DIR)
    if args.only:
        kept = [r for r in read_manifest() if r["id"] != args.only]
        records = kept + records
    write_manifest(records)
    total = sum((REPO_DIR / r[k]).stat().st_size for r in records for k in ("file", "profile"))
    _log(
        f"wrote {MANIFEST} ({len(records)} entries, {total / 1e6:.2f} MB of weights and profiles) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
