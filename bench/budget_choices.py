"""Which pretraining setup gives the best features for a given CPU time budget?

The evidence behind the budget rules in :mod:`engine.pretrain.auto`. For each setup
(backbone, stem) and each budget, one pretraining on 5,000 Fashion-MNIST images (written as
PNGs, as a user's folder would be), then the frozen features are scored on the first 2,000
test images:

- ``K=10``: the linear head of the fine-tune's ``linear`` mode fitted on 10 random labels per
  class (mean and spread over the label seeds) — what a quick fine-tune gets;
- ``all``: the same head fitted on all 5,000 labels — how much the features hold.

    python bench/budget_choices.py [--setups smallcnn/standard smallcnn/small] [--minutes 3 12] [--seeds 0 1 2]
    python bench/budget_choices.py --resume --work DIR    # skip what DIR/results.jsonl already holds
    python bench/budget_choices.py --report-only --work DIR
    python bench/budget_choices.py --resume --work DIR --runs RUN_DIR ...   # score finished pretraining runs

``--runs`` scores pretraining run folders made elsewhere (by the CLI, or by
``bench/pretraining_gain.py``) on the same pool and test images, instead of pretraining.
Each finished pretraining is appended to ``WORK/results.jsonl``; the table is printed and
written to ``docs/budget_choices.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from label_efficiency import CLASSES, SOURCE, random_labels, read_idx, write_pool  # noqa: E402

from engine import PretrainConfig, run_pretraining  # noqa: E402
from engine.data.decoded_store import ImageStore  # noqa: E402
from engine.finetune.probe import feature_statistics, fit_linear  # noqa: E402
from engine.maps.embed import compute_features  # noqa: E402
from engine.models.model_io import load_backbone  # noqa: E402
from engine.store.runs import PretrainRun  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def score(run_dir: str, pool: np.ndarray, test: np.ndarray, test_labels: np.ndarray, truth: dict[str, str],
          seeds: list[int]) -> dict:
    """Linear-head test accuracies of a run's frozen features: per label seed at K=10, and with all labels."""
    backbone, meta = load_backbone(PretrainRun(Path(run_dir)).backbone_path)

    def features(images: np.ndarray) -> torch.Tensor:
        store = ImageStore(torch.from_numpy(images.copy()).unsqueeze(1), [""] * len(images), images.shape[-1], 1,
                           False)
        return compute_features(backbone, store, meta["mean"], meta["std"], torch.device("cpu"))

    raw_pool, raw_test = features(pool), features(test)
    mean, std = feature_statistics(raw_pool)
    x = (F.normalize(raw_pool, dim=1) - mean) / std
    t = (F.normalize(raw_test, dim=1) - mean) / std
    paths = sorted(truth)
    y_all = torch.tensor([CLASSES.index(truth[p]) for p in paths])

    def accuracy(rows: list[int]) -> float:
        head = fit_linear(x[rows], y_all[rows], len(CLASSES))
        with torch.no_grad():
            return float((head(t).argmax(1).numpy() == test_labels).mean())

    row_of = {p: i for i, p in enumerate(paths)}
    k10 = [accuracy([row_of[p] for p in random_labels(truth, 10, seed)]) for seed in seeds]
    return {"k10": k10, "all": accuracy(list(range(len(paths))))}


def pretrain(setup: str, minutes: float, args) -> dict:
    backbone, stem = setup.split("/")
    started = time.monotonic()
    cfg = PretrainConfig(data_dir=str(args.work / "images"), out_dir=str(args.work / "runs"),
                         cache_dir=str(args.work / "cache"), minutes=minutes, device="cpu", seed=0,
                         backbone=backbone, stem=stem)
    result = run_pretraining(cfg)
    _, meta = load_backbone(PretrainRun(Path(result.run_dir)).backbone_path)
    return {"run_dir": result.run_dir, "steps": result.step, "seconds": time.monotonic() - started,
            "method": meta["config"]["method"], "batch": meta["config"]["batch_size"],
            "load": os.getloadavg()[0]}


def finished_run(run_dir: str) -> dict:
    """The record fields of a pretraining run folder made elsewhere: its setup, budget and steps."""
    run = PretrainRun(Path(run_dir).resolve())
    config, last = run.config_dict(), run.read_metrics()[-1]
    return {"setup": f"{config['backbone']}/{config['stem']}", "minutes": config["minutes"],
            "run_dir": str(run.path), "steps": last["step"], "method": config["method"],
            "batch": config["batch_size"], "load": None}


def table(results: list[dict]) -> str:
    lines = ["| setup | budget | steps | epochs | K=10 linear (mean ± std) | all labels linear | load |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["setup"], r["minutes"])):
        k10 = r["k10"]
        spread = statistics.stdev(k10) if len(k10) > 1 else 0.0
        epochs = r["steps"] * r["batch"] / r["images"]
        load = "—" if r["load"] is None else f"{r['load']:.1f}"
        lines.append(f"| {r['setup']} ({r['method']}) | {r['minutes']:g} min | {r['steps']} | {epochs:.0f} | "
                     f"{100 * statistics.mean(k10):.1f} ± {100 * spread:.1f} % | {100 * r['all']:.1f} % | "
                     f"{load} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", nargs="+", default=["smallcnn/standard", "smallcnn/small"],
                        help="BACKBONE/STEM pairs")
    parser.add_argument("--minutes", type=float, nargs="+",
                        help="pretraining budgets (default 3 12; none when --runs is given)")
    parser.add_argument("--runs", nargs="+", default=[], metavar="RUN_DIR",
                        help="score these finished pretraining runs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--resume", action="store_true", help="skip the setups WORK/results.jsonl holds")
    parser.add_argument("--report-only", action="store_true", help="write the table of WORK/results.jsonl, run nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "budget_choices.md")
    args = parser.parse_args()
    if args.minutes is None:
        args.minutes = [] if args.runs else [3, 12]
    with tempfile.TemporaryDirectory(prefix="budget-choices-") as temp:
        args.work = args.work or Path(temp)
        run(args)


def measure(args, results: list[dict], log) -> None:
    """Pretrain and score every (setup, budget) that ``results`` lacks, appending each to ``log``."""
    pool = read_idx(SOURCE / "train-images-idx3-ubyte.gz")[:args.train]
    pool_labels = read_idx(SOURCE / "train-labels-idx1-ubyte.gz")[:args.train]
    test = read_idx(SOURCE / "t10k-images-idx3-ubyte.gz")[:args.test]
    test_labels = read_idx(SOURCE / "t10k-labels-idx1-ubyte.gz")[:args.test]
    truth = write_pool(args.work / "images", pool, pool_labels)
    done = {(r["setup"], r["minutes"]) for r in results}
    scored = {r["run_dir"] for r in results}
    for run_dir in args.runs:
        if str(Path(run_dir).resolve()) in scored:
            continue
        record = {"images": len(pool), **finished_run(run_dir)}
        record.update(score(record["run_dir"], pool, test, test_labels, truth, args.seeds))
        _keep(record, results, log)
    for minutes in args.minutes:
        for setup in args.setups:
            if (setup, minutes) in done:
                continue
            record = {"setup": setup, "minutes": minutes, "images": len(pool), **pretrain(setup, minutes, args)}
            record.update(score(record["run_dir"], pool, test, test_labels, truth, args.seeds))
            _keep(record, results, log)


def _keep(record: dict, results: list[dict], log: Path) -> None:
    results.append(record)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    print(table([record]).splitlines()[-1], flush=True)


def run(args) -> None:
    log = args.work / "results.jsonl"
    keep = args.resume or args.report_only
    results = [json.loads(line) for line in log.read_text().splitlines()] if keep and log.exists() else []
    if not args.report_only:
        measure(args, results, log)
    text = (f"# Features per pretraining budget\n\n`python bench/budget_choices.py` on {platform.processor() or 'CPU'}"
            f" ({torch.get_num_threads()} threads), Fashion-MNIST: {args.train} unlabeled images, {args.test} test"
            f" images, label seeds {' '.join(map(str, args.seeds))}. Every pretraining is SimCLR with the other"
            f" settings on auto. Load: the 1-minute load average when the pretraining ended (the machine was"
            f" shared, so the steps that fit a budget vary with it; — for runs made elsewhere, scored with --runs).\n\n{table(results)}\n")
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
