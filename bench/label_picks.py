"""Are the images the app suggests better labels than random ones? Fashion-MNIST accuracy of each.

A user of the app labels the images its Label step suggests (the medoids of clusters of the
pretrained embedding, see ``engine.maps.suggest``); the gain bench labels K random images per
class. This bench compares the two on the gain bench's pretraining runs (``--budgets``), with
the same fine-tune, export and predict steps (``pretraining_gain.labelled_model``), for each K and
label seed:

    random:     K random pool images per class, picked with the seed: the gain bench's cells
                (those it lacks are made and added to its results)
    suggested:  the K × 10 images that ``suggest RUN --n K×10 --seed SEED`` prints, each labelled
                with its true class, as a user who labels what the app suggests

The suggested picks need not hold K images of every class; each seed's line gives how many
classes they cover and the fewest labels of a class.

    python bench/pretraining_gain.py --budgets 6 --ks 10           # makes the 6-minute run first
    python bench/label_picks.py --budgets 6 --ks 10 --seeds 0 1 2  # then compares the picks on it

The suggested cells go to ``WORK/label_picks.jsonl`` (``--resume`` skips what is done), the table
to ``docs/label_picks.md``.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
from pathlib import Path

from label_efficiency import CLASSES, SOURCE
from pretraining_gain import (ROOT, STEP_SLACK_S, Results, StepFailed, cell, cli, labelled_model, mean_spread,
                              now, prepare_folders, session_lines, versions)

RECORD_KIND = {"random": "cell", "suggested": "suggested"}   # the random picks are the gain bench's cells


def finished_cell(results: dict[str, Results], picks: str, pretraining: dict, k: int, seed: int,
                  finetune_minutes: float) -> dict | None:
    """The record of the (``picks``, run, K, seed, fine-tune minutes) cell, or None when it is not done."""
    return results[picks].find(RECORD_KIND[picks], run_dir=pretraining["run_dir"], k=k, seed=seed,
                               finetune_minutes=finetune_minutes)


def suggested_labels(run_dir: str, count: int, seed: int, pool_truth: dict[str, str], log: Path, args) -> dict:
    """The ``count`` pool images that the CLI's ``suggest`` prints for ``run_dir``, with their true class."""
    stdout = cli(["suggest", run_dir, "--n", str(count), "--seed", str(seed), "--device", "cpu",
                  "--cache-dir", str(args.work / "cache")], log, STEP_SLACK_S)
    paths = [line.split("\t", 1)[0] for line in stdout.splitlines() if line and not line.startswith("#")]
    if len(paths) != count:
        raise StepFailed(f"suggest printed {len(paths)} images, not {count}")
    return {path: pool_truth[path] for path in paths}


def suggested_cell(pretraining: dict, k: int, seed: int, args, truth, results: Results) -> dict:
    """Label the K × 10 suggested images for (K, seed), fine-tune, export, predict; return the result record."""
    folder = args.work / "picks" / f"{pretraining['budget']:g}min-suggested-k{k}-seed{seed}-ft{args.finetune_minutes:g}"
    folder.mkdir(parents=True, exist_ok=True)
    labels = suggested_labels(pretraining["run_dir"], k * len(CLASSES), seed, truth["pool"], folder / "stderr.log",
                              args)
    per_class = collections.Counter(labels.values())
    scored = labelled_model(pretraining["run_dir"], labels, seed, folder, args, truth["test"])
    return results.add({"kind": "suggested", "budget": pretraining["budget"],
                        "run_dir": pretraining["run_dir"], "k": k, "seed": seed,
                        "finetune_minutes": args.finetune_minutes, "classes_covered": len(per_class),
                        "fewest_per_class": min(per_class[name] for name in CLASSES), **scored})


def run(args) -> None:
    gain = Results(args.work / "results.jsonl", resume=True)
    runs = [gain.pretraining(budget) for budget in args.budgets]
    for budget, pretraining in zip(args.budgets, runs):
        if pretraining is None or not Path(pretraining["run_dir"]).is_dir():
            sys.exit(f"label_picks: {args.work} holds no {budget:g}-minute pretraining run; make it with "
                     f"python bench/pretraining_gain.py --work {args.work} --budgets {budget:g}")
    results = {"random": gain, "suggested": Results(args.work / "label_picks.jsonl", args.resume)}
    make = {"random": cell, "suggested": suggested_cell}
    truth = prepare_folders(args.work, args.source, args.train, args.test)
    session = {"kind": "session", "argv": sys.argv[1:], "started": now(), "load_start": os.getloadavg()[0]}
    cells_before = len(results["suggested"].records) + len(gain.records)
    for pretraining in runs:
        for k in args.ks:
            for seed in args.seeds:
                for picks, found in results.items():
                    where = f"{pretraining['budget']:g} min, {picks}, K={k}, seed {seed}"
                    done = finished_cell(results, picks, pretraining, k, seed, args.finetune_minutes)
                    try:
                        done = done or make[picks](pretraining, k, seed, args, truth, found)
                    except (StepFailed, OSError, KeyError, ValueError) as error:
                        print(f"{where}: failed: {error}", flush=True)
                        continue
                    print(f"{where}: {done['accuracy']:.1%}, {done['cell_s']:.0f} s", flush=True)
    if len(results["suggested"].records) + len(gain.records) > cells_before:   # a session that did work
        results["suggested"].add({**session, "ended": now(), "load_end": os.getloadavg()[0]})
    report(args, runs, results)


def report(args, runs: list[dict], results: dict[str, Results]) -> None:
    """Write the Markdown table: a row per pretraining run and way of picking, a column per K; then
    each seed's pair."""
    def records(pretraining: dict, picks: str, k: int) -> dict[int, dict]:
        found = (finished_cell(results, picks, pretraining, k, seed, args.finetune_minutes) for seed in args.seeds)
        return {r["seed"]: r for r in found if r}

    table = ["| pretraining | labels | " + " | ".join(f"K = {k} ({k * len(CLASSES)} labels)" for k in args.ks)
             + " |", "| --- | --- | " + " | ".join("---" for _ in args.ks) + " |"]
    pairs = []
    for pretraining in runs:
        name = f"{pretraining['budget']:g} min ({pretraining['steps']:,} steps)"
        for picks in results:
            cells = [mean_spread([r["accuracy"] for r in records(pretraining, picks, k).values()]) for k in args.ks]
            table.append(f"| {name} | {picks} | " + " | ".join(cells) + " |")
        for k in args.ks:
            random_cells, suggested_cells = (records(pretraining, picks, k) for picks in results)
            pairs += [f"- {pretraining['budget']:g} min, K = {k}, seed {seed}: random "
                      f"{100 * random_cells[seed]['accuracy']:.1f} %, suggested "
                      f"{100 * suggested_cells[seed]['accuracy']:.1f} % ({suggested_cells[seed]['classes_covered']} "
                      f"classes covered, the fewest labels of a class {suggested_cells[seed]['fewest_per_class']})"
                      for seed in args.seeds if seed in random_cells and seed in suggested_cells]
    networks = ", ".join(sorted({r["backbone"] for r in runs}))
    sessions = session_lines("label_picks.py", results["suggested"])
    lines = ["# Label picks: random or suggested", "", *(f"- {session}" for session in sessions), "",
             f"Fashion-MNIST, the gain bench's pool of {args.train} images and its first {args.test} test images. "
             f"Pretraining: the gain bench's runs ({networks}, everything on auto). Each cell fine-tunes one "
             f"for {args.finetune_minutes:g} min (mode auto), exports and predicts through the CLI; accuracy is the "
             "exported ONNX model's. The random rows pick K images per class; the suggested rows label the images "
             "the CLI's `suggest` prints, as many as the random row holds, with their true class.", "",
             f"Machine: {os.cpu_count()} CPUs; {versions()}.", "",
             f"Test accuracy in %, mean ± std over the label seeds ({', '.join(map(str, args.seeds))}):", "",
             *table, "",
             "Each seed's pair (the same pretraining run, fine-tune seed and budget):", "", *pairs, ""]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(table))
    print(f"\nwrote {args.report}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[6],
                        help="the gain bench's pretraining runs to use, by their minutes (default 6)")
    parser.add_argument("--ks", type=int, nargs="+", default=[10], help="labels per class (default 10)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="label seeds (default 0 1 2)")
    parser.add_argument("--finetune-minutes", type=float, default=2.0, help="every fine-tune's budget (default 2)")
    parser.add_argument("--train", type=int, default=5000, help="images in the gain bench's pool")
    parser.add_argument("--test", type=int, default=2000, help="test images scored")
    parser.add_argument("--resume", action="store_true", help="keep the finished cells")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pretraining-gain",
                        help="the gain bench's working folder")
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "label_picks.md")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
