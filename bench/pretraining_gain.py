"""Does self-supervised pretraining pay? Fashion-MNIST accuracy against pretraining minutes.

Measured the way a user gets it: every step is the CLI (``python -m engine.cli``) in a
subprocess, and the score is the exported ONNX model's, run by ``predict`` (onnxruntime).
5,000 training images are written as PNGs to a folder (the unlabeled pool) and the first
2,000 test images to another (the test set). For each pretraining budget (CPU minutes,
everything else on auto, so the network may differ by budget), and for budget 0 an
untrained control of each network that auto chose (the same network after a pretraining of
a few seconds, since the CLI has no untrained option), then for each K labels per class and
each label seed (K random picks per class with that seed; the fine-tune takes the same
seed):

    pretrain POOL --minutes M --device cpu
    finetune RUN --labels labels.csv --minutes F          (mode auto, the same F for every row)
    export FINETUNE_RUN --out model.onnx
    predict model.onnx TEST_DIR --csv out.csv             (scored against the true labels)

    python bench/pretraining_gain.py                      # budgets 0 2 8 30, K 5 10 25, seeds 0 1 2: ~2.5 h
    python bench/pretraining_gain.py --quick              # budgets 0 1, K 10, seed 0, 30 s fine-tunes: minutes
    python bench/pretraining_gain.py --resume             # continue a stopped run (same --work folder)
    python bench/pretraining_gain.py --report-only        # the table and plot of what the work folder holds
    python bench/pretraining_gain.py --resume --budgets 30 --backbone mediumcnn   # another network, beside auto's

``--backbone`` pretrains the budgets above 0 with that network instead of auto's choice; its rows
join auto's in the same work folder's table, each with the untrained control of its network.

Each pretraining run is reused across K, seeds and fine-tune budgets (``--finetune-minutes``
with ``--resume`` adds the cells of another fine-tune budget to the same work folder). Every
finished step is appended to ``WORK/results.jsonl``, so ``--resume`` skips what is done. A step that fails prints which
and the run goes on with the next one. The table (mean ± std over the seeds) goes to
``docs/pretraining_gain.md`` and the plot to ``docs/pretraining_gain.png``.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from label_efficiency import CLASSES, SOURCE, random_labels, read_idx, write_pool

ROOT = Path(__file__).resolve().parent.parent
UNTRAINED_MINUTES = 0.05      # budget 0: a 3 s pretraining, the nearest the CLI comes to an untrained backbone
INTERRUPTED = 130             # the CLI's exit code after Ctrl+C
STEP_SLACK_S = 900            # a step's time limit beyond its budget: decoding, setup, validation, export


class StepFailed(RuntimeError):
    """A CLI step that exited with an error or ran past its time limit."""


def cli(arguments: list[str], log: Path, limit_s: float) -> str:
    """Run ``python -m engine.cli ARGUMENTS``; return its stdout. Its stderr is appended to ``log``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with open(log, "a", encoding="utf-8") as errors:
        errors.write(f"\n$ pretext-studio-cli {' '.join(arguments)}\n")
        errors.flush()
        try:
            done = subprocess.run([sys.executable, "-m", "engine.cli", *arguments], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=errors, text=True, timeout=limit_s)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"{arguments[0]} ran past {limit_s:.0f} s") from None
    if done.returncode == INTERRUPTED:
        raise KeyboardInterrupt
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        raise StepFailed(f"{arguments[0]} exited with {done.returncode}: {tail[0] if tail else ''} (see {log})")
    return done.stdout


def printed_value(stdout: str, prefix: str) -> str:
    """The rest of the last stdout line that starts with ``prefix``."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    raise StepFailed(f"the output has no '{prefix}' line")


class Results:
    """The JSON lines of finished steps: one record per pretraining and per (budget, K, seed)."""

    def __init__(self, path: Path, resume: bool) -> None:
        self.path = path
        if path.exists() and not resume:
            kept = path.with_name(f"results-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
            path.rename(kept)
            print(f"earlier results kept as {kept}; starting again")
        self.records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] \
            if path.exists() else []

    def add(self, record: dict) -> dict:
        self.records.append(record)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        return record

    def find(self, kind: str, **keys) -> dict | None:
        return next((r for r in reversed(self.records)
                     if r["kind"] == kind and all(r.get(k) == v for k, v in keys.items())), None)

    def pretraining(self, budget: float, network: str = "") -> dict | None:
        """The latest pretraining of ``budget`` minutes: for budget 0 the untrained control of
        ``network``; above 0 with ``network`` asked for ("": auto's choice)."""
        if budget == 0:
            return self.find("pretrain", budget=0, backbone=network)
        return next((r for r in reversed(self.records) if r["kind"] == "pretrain" and r["budget"] == budget
                     and r.get("asked", "") == network), None)

    def asked_networks(self, budget: float) -> list[str]:
        """The networks asked for with ``--backbone`` that have a pretraining of ``budget`` minutes."""
        return sorted({r["asked"] for r in self.records if r["kind"] == "pretrain" and r["budget"] == budget
                       and r.get("asked")})


def prepare_folders(work: Path, source: Path, train: int, test: int) -> dict[str, dict[str, str]]:
    """Write the pool and test PNGs once per work folder; return {"pool"|"test": {file name: class}}."""
    truth = {}
    for split, prefix, count in (("pool", "train", train), ("test", "t10k", test)):
        images = read_idx(source / f"{prefix}-images-idx3-ubyte.gz")[:count]
        labels = read_idx(source / f"{prefix}-labels-idx1-ubyte.gz")[:count]
        folder, marker = work / split, work / f"{split}-{count}.complete"
        if marker.exists():
            truth[split] = {f"{i:05d}.png": CLASSES[label] for i, label in enumerate(labels)}
        else:
            for stale in folder.glob("*.png") if folder.exists() else ():
                stale.unlink()
            truth[split] = write_pool(folder, images, labels)
            marker.touch()
    return truth


def pretrain(budget: float, work: Path, results: Results, backbone: str = "") -> dict:
    """The pretraining run of ``budget`` CPU minutes with everything else on auto (the network too
    when ``backbone`` is ""), made or reused. Budget 0 is the untrained control of ``backbone``: a
    pretraining of a few seconds of that network."""
    done = results.pretraining(budget, backbone)
    if done and Path(done["run_dir"]).is_dir():
        return done
    minutes = budget or UNTRAINED_MINUTES
    name = f"{budget:g}min" + (f"-{backbone}" if backbone else "")
    started = time.monotonic()
    stdout = cli(["pretrain", str(work / "pool"), "--minutes", f"{minutes:g}", "--device", "cpu",
                  "--out", str(work / "runs" / name), "--cache-dir", str(work / "cache"),
                  *(["--backbone", backbone] if backbone else [])],
                 work / "logs" / f"pretrain-{name}.log", minutes * 60 + STEP_SLACK_S)
    status = printed_value(stdout, "completed:")      # "step S/T, final loss L"
    run_dir = printed_value(stdout, "run folder:")
    config = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))
    return results.add({"kind": "pretrain", "budget": budget, "minutes": minutes, "backbone": config["backbone"],
                        **({"asked": backbone} if budget and backbone else {}),
                        "seconds": round(time.monotonic() - started, 1),
                        "steps": int(status.split()[1].split("/")[0]), "final_loss": status.rsplit(" ", 1)[-1],
                        "run_dir": run_dir})


def score(predictions_csv: Path, truth: dict[str, str]) -> float:
    """Share of the test images whose predicted label is the true one (unreadable rows count as wrong)."""
    with open(predictions_csv, newline="", encoding="utf-8") as handle:
        predicted = {Path(row["path"]).name: row["label"] for row in csv.DictReader(handle)}
    return sum(predicted.get(name) == label for name, label in truth.items()) / len(truth)


def cell(pretraining: dict, k: int, seed: int, args, truth: dict[str, dict[str, str]], results: Results) -> dict:
    """Fine-tune, export and predict for one (budget, K, seed); return its result record."""
    network = f"-{pretraining['backbone']}" if pretraining["budget"] == 0 or pretraining.get("asked") else ""
    folder = args.work / "cells" / f"{pretraining['budget']:g}min{network}-k{k}-seed{seed}-ft{args.finetune_minutes:g}"
    scored = labelled_model(pretraining["run_dir"], random_labels(truth["pool"], k, seed), seed, folder, args,
                            truth["test"])
    return results.add({"kind": "cell", "budget": pretraining["budget"], "run_dir": pretraining["run_dir"],
                        "k": k, "seed": seed, "finetune_minutes": args.finetune_minutes, **scored})


def labelled_model(run_dir: str, labels: dict[str, str], seed: int, folder: Path, args,
                   test_truth: dict[str, str]) -> dict:
    """Fine-tune the pretraining ``run_dir`` on ``labels`` (pool file name: class) for
    ``args.finetune_minutes``, export, predict the test folder; return the accuracy, the mode and the times."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "stderr.log"
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(sorted(labels.items()))
    started = time.monotonic()
    stdout = cli(["finetune", run_dir, "--labels", str(folder / "labels.csv"),
                  "--minutes", f"{args.finetune_minutes:g}", "--device", "cpu", "--seed", str(seed),
                  "--out", str(folder / "finetune"), "--cache-dir", str(args.work / "cache")],
                 log, args.finetune_minutes * 60 * 2 + STEP_SLACK_S)
    finetune_s = time.monotonic() - started
    model = folder / "model.onnx"
    cli(["export", printed_value(stdout, "run folder:"), "--out", str(model), "--overwrite"], log, STEP_SLACK_S)
    cli(["predict", str(model), str(args.work / "test"), "--csv", str(folder / "predictions.csv"), "--overwrite"],
        log, STEP_SLACK_S)
    return {"accuracy": score(folder / "predictions.csv", test_truth), "mode": printed_value(stdout, "mode:"),
            "finetune_s": round(finetune_s, 1), "cell_s": round(time.monotonic() - started, 1)}


def run(args) -> None:
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "logs").mkdir(exist_ok=True)
    results = Results(args.work / "results.jsonl", args.resume)
    settings = {"train": args.train, "test": args.test}
    earlier = results.find("settings")
    if earlier and {k: earlier[k] for k in settings} != settings:
        sys.exit(f"pretraining_gain: --resume with other settings than {args.work} holds: "
                 f"{ {k: earlier[k] for k in settings} }")
    if not earlier:
        results.add({"kind": "settings", **settings})
    session = {"kind": "session", "argv": sys.argv[1:], "started": now(), "load_start": os.getloadavg()[0]}
    steps_before = len(results.records)
    truth = prepare_folders(args.work, args.source, args.train, args.test)
    try:
        for budget in (b for b in args.budgets if b > 0):
            run_budget(budget, args.backbone, args, truth, results)
        if 0 in args.budgets:
            for backbone in control_backbones(args, results):
                run_budget(0, backbone, args, truth, results)
    except KeyboardInterrupt:
        print(f"\nstopped: continue with --resume (and the same --work, {args.work})", flush=True)
    if len(results.records) > steps_before:     # a session that did work: when, how, and how loaded
        results.add({**session, "ended": now(), "load_end": os.getloadavg()[0]})
    report(args, results)


def control_backbones(args, results: Results) -> list[str]:
    """The networks that the budgets above 0 trained, auto's choices and those asked for (the small
    CNN when there are none): each gets an untrained control with the same fine-tune."""
    chosen = [found["backbone"] for budget in args.budgets if budget > 0
              for network in ("", *results.asked_networks(budget))
              if (found := results.pretraining(budget, network))]
    return list(dict.fromkeys(chosen)) or ["smallcnn"]


def row_name(budget: float, network: str) -> str:
    """Budget 0: the control of ``network``; above 0: auto's network, or ``network`` asked for."""
    if budget == 0:
        return f"untrained {network}"
    return f"{budget:g} min" + (f", {network} asked" if network else "")


def run_budget(budget: float, backbone: str, args, truth: dict[str, dict[str, str]], results: Results) -> None:
    """Pretrain for ``budget`` minutes (or reuse that run), then every K and seed not done with it yet.
    ``backbone``: the control's network for budget 0, the network asked for above 0 ("": auto's)."""
    name = row_name(budget, backbone)
    try:
        pretraining = pretrain(budget, args.work, results, backbone)
    except (StepFailed, OSError) as error:
        print(f"{name}: pretraining failed: {error}; skipping its fine-tunes", flush=True)
        return
    print(f"{name}: {pretraining['backbone']}, {pretraining['steps']} steps in {pretraining['seconds']:.0f} s, "
          f"final loss {pretraining['final_loss']}", flush=True)
    for k in args.ks:
        for seed in args.seeds:
            where = f"{name}, K={k}, seed {seed}"
            done = results.find("cell", run_dir=pretraining["run_dir"], k=k, seed=seed,
                                finetune_minutes=args.finetune_minutes)
            try:
                done = done or cell(pretraining, k, seed, args, truth, results)
            except (StepFailed, OSError, KeyError, ValueError) as error:   # a missing or malformed predictions CSV
                print(f"{where}: failed: {error}", flush=True)
                continue
            mode = done["mode"].split(":")[0]
            print(f"{where}: {done['accuracy']:.1%} ({mode}), {done['cell_s']:.0f} s", flush=True)


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def session_lines(script: str, results: Results) -> list[str]:
    """How each recorded session of ``bench/SCRIPT`` ran: its command, when, and how loaded."""
    return [f"`{' '.join([f'python bench/{script}', *r['argv']])}` from {r['started']} to {r['ended'][-9:]}, "
            f"load average (1 min) {r['load_start']:.2f} at the start and {r['load_end']:.2f} at the end"
            for r in results.records if r["kind"] == "session"]


def mean_spread(values: list[float]) -> str:
    if not values:
        return "—"
    spread = f" ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else ""
    return f"{100 * statistics.mean(values):.1f}{spread} (n={len(values)})"


def cell_values(results: Results, budget: float, k: int, seeds: list[int], finetune_minutes: float,
                backbone: str = "") -> list[float]:
    """The accuracies of the budget's latest pretraining run (for budget 0, ``backbone``'s control;
    above 0, ``backbone`` asked for, "" for auto's) with K labels per class and ``finetune_minutes``
    fine-tunes, one per finished seed."""
    pretraining = results.pretraining(budget, backbone)
    if pretraining is None:
        return []
    found = (results.find("cell", run_dir=pretraining["run_dir"], k=k, seed=seed, finetune_minutes=finetune_minutes)
             for seed in seeds)
    return [r["accuracy"] for r in found if r]


def report_rows(args, results: Results) -> list[tuple[float, str]]:
    """(budget, network) for each row of the table, in the order of ``--budgets``: the controls for
    budget 0; auto's run ("") and each network asked for above 0."""
    rows = []
    for budget in args.budgets:
        networks = control_backbones(args, results) if budget == 0 else ["", *results.asked_networks(budget)]
        rows += [(budget, network) for network in networks]
    return rows


def finetune_budgets(args, results: Results) -> list[float]:
    """The fine-tune minutes of this invocation and of every cell in the work folder."""
    found = {r["finetune_minutes"] for r in results.records if r["kind"] == "cell" and "finetune_minutes" in r}
    return sorted(found | {args.finetune_minutes})


def versions() -> str:
    import onnxruntime
    import torch

    return f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, Python {platform.python_version()}"


def report(args, results: Results) -> None:
    """Write the Markdown table and the plot for the chosen budgets, Ks and seeds."""
    sessions = session_lines("pretraining_gain.py", results)
    title = "Pretraining gain: harness check (--quick), not a result" if args.quick else "Pretraining gain"
    table = ["| pretraining | backbone | steps | fine-tune | " + " | ".join(f"K = {k}" for k in args.ks) + " |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in args.ks) + " |"]
    for minutes in finetune_budgets(args, results):
        for budget, backbone in report_rows(args, results):
            pretraining = results.pretraining(budget, backbone)
            values = [cell_values(results, budget, k, args.seeds, minutes, backbone) for k in args.ks]
            if minutes != args.finetune_minutes and not any(values):
                continue
            steps = f"{pretraining['steps']} in {pretraining['seconds']:.0f} s" if pretraining else "—"
            network = pretraining["backbone"] if pretraining else backbone or "auto"
            table.append(f"| {row_name(budget, backbone)} | {network} | {steps} | {minutes:g} min | "
                         + " | ".join(mean_spread(v) for v in values) + " |")
    lines = [f"# {title}", "", *(f"- {session}" for session in sessions), "",
             f"Fashion-MNIST, {args.train} training images as the unlabeled pool, the first {args.test} test images "
             f"scored. Every step is the CLI; accuracy is the exported ONNX model's, run by `predict` "
             f"(onnxruntime). Fine-tune: mode auto, with the budget of its column; rows with the same "
             f"fine-tune budget compare pretraining alone. "
             f"Every other setting is on auto, so the network follows the budget; each network auto chose "
             f"has an untrained control, a pretraining of {UNTRAINED_MINUTES * 60:.0f} s, with the same "
             f"fine-tune.", "",
             f"Machine: {os.cpu_count()} CPUs, shared with other developers' jobs (see the load averages above); "
             f"{versions()}.", "",
             "Test accuracy in %, mean ± std over the label seeds "
             f"({', '.join(map(str, args.seeds))}); n = the seeds that finished, — = none:", "", *table]
    modes = sorted({r["mode"] for r in results.records if r["kind"] == "cell"})
    lines += ["", "Fine-tune modes chosen (the CLI's reasons): " + ("; ".join(modes) if modes else "none") + ".", "",
              f"![accuracy against pretraining minutes]({args.plot.name})", ""]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines), encoding="utf-8")
    plot(args, results, title)
    print("\n".join(table))
    print(f"\nwrote {args.report}")


def plot(args, results: Results, title: str) -> None:
    if importlib.util.find_spec("matplotlib") is None:
        print(f"no plot: matplotlib is not installed (pip install matplotlib), so {args.plot} was not written")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9.5, 4.5), dpi=120)
    means = []
    for k in args.ks:
        points = [(budget, values) for budget in args.budgets if budget > 0
                  if (values := cell_values(results, budget, k, args.seeds, args.finetune_minutes))]
        controls = [(backbone, values) for budget, backbone in report_rows(args, results) if budget == 0
                    if (values := cell_values(results, 0, k, args.seeds, args.finetune_minutes, backbone))]
        if points:
            means += [100 * statistics.mean(v) for _, v in points]
            line = axes.errorbar([b for b, _ in points], means[-len(points):],
                                 yerr=[100 * statistics.stdev(v) if len(v) > 1 else 0 for _, v in points],
                                 marker="o", capsize=4, label=f"K = {k} labels per class")
            colour = line[0].get_color()
        else:
            colour = None
        for network in sorted({n for budget in args.budgets if budget > 0 for n in results.asked_networks(budget)}):
            asked = [(budget, values) for budget in args.budgets if budget > 0
                     if (values := cell_values(results, budget, k, args.seeds, args.finetune_minutes, network))]
            means += [100 * statistics.mean(v) for _, v in asked]
            axes.errorbar([b for b, _ in asked], means[len(means) - len(asked):],
                          yerr=[100 * statistics.stdev(v) if len(v) > 1 else 0 for _, v in asked],
                          marker="x", capsize=4, linestyle="--", color=colour, label=f"K = {k}, {network} asked")
        for marker, (backbone, values) in zip("sD^v", controls):
            means.append(100 * statistics.mean(values))
            axes.errorbar([0], [means[-1]], yerr=[100 * statistics.stdev(values) if len(values) > 1 else 0],
                          marker=marker, capsize=4, linestyle="none", color=colour, fillstyle="none",
                          label=f"K = {k}, untrained {backbone}")
    if means:      # at least a 10-point span, so that a small difference does not fill the plot
        middle = (max(means) + min(means)) / 2
        half = max(5.0, (max(means) - min(means)) / 2 + 3)
        axes.set_ylim(max(0.0, middle - half), min(100.0, middle + half))
    axes.set_xscale("symlog", linthresh=1)
    axes.set_xticks(args.budgets, [f"{b:g}" for b in args.budgets])
    axes.set_xlabel("pretraining budget (CPU minutes; 0 = untrained controls)")
    axes.set_ylabel("test accuracy of the exported model (%)")
    axes.set_title(f"{title}\nFashion-MNIST, {args.finetune_minutes:g} min fine-tune, ±1 std over label seeds",
                   fontsize=10)
    axes.grid(alpha=0.3)
    if means:
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))   # beside the plot, never on a point
    figure.tight_layout()
    figure.savefig(args.plot)
    plt.close(figure)
    print(f"wrote {args.plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a harness check: budgets 0 1, K 10, seed 0, a 0.5 min fine-tune, 500 test images")
    parser.add_argument("--budgets", type=float, nargs="+", help="pretraining CPU minutes (default 0 2 8 30)")
    parser.add_argument("--ks", type=int, nargs="+", help="labels per class (default 5 10 25)")
    parser.add_argument("--seeds", type=int, nargs="+", help="label seeds (default 0 1 2)")
    parser.add_argument("--finetune-minutes", type=float, help="every fine-tune's budget (default 2)")
    parser.add_argument("--backbone", default="", help="the network for the budgets above 0 (default: auto's choice)")
    parser.add_argument("--train", type=int, default=5000, help="images in the unlabeled pool")
    parser.add_argument("--test", type=int, help="test images scored (default 2000)")
    parser.add_argument("--resume", action="store_true", help="keep the work folder's finished steps")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: write the table and plot of the work folder's finished steps")
    parser.add_argument("--work", type=Path, help="working folder (default: pretraining-gain[-quick] in the temp dir)")
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "pretraining_gain.md")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "pretraining_gain.png")
    args = parser.parse_args()
    defaults = dict(budgets=[0, 1], ks=[10], seeds=[0], finetune_minutes=0.5, test=500) if args.quick else \
        dict(budgets=[0, 2, 8, 30], ks=[5, 10, 25], seeds=[0, 1, 2], finetune_minutes=2.0, test=2000)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    default_work = "pretraining-gain-quick" if args.quick else "pretraining-gain"
    args.work = args.work or Path(tempfile.gettempdir()) / default_work
    if importlib.util.find_spec("matplotlib") is None:
        print("warning: matplotlib is not installed (pip install matplotlib): the table will be written, the plot not")
    if args.report_only:
        if not (args.work / "results.jsonl").is_file():
            sys.exit(f"pretraining_gain: {args.work} holds no results.jsonl to report")
        report(args, Results(args.work / "results.jsonl", resume=True))
    else:
        run(args)


if __name__ == "__main__":
    main()
