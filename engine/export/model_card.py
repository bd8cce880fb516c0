"""MODEL_CARD.md written beside an exported model: what it was trained on, how well it does,
what it is for and where it falls short.

::

    facts = card_facts(meta, options)        # plain values; also the model's "model_card" metadata
    text = render(facts, "model.onnx", int8_report)

The facts come from the trained model's meta (:mod:`engine.models.model_io`), its pretraining
run folder (the resolved config and the scan it trained on, read through
:class:`engine.store.runs.PretrainRun`) and the fine-tune's validation
(:mod:`engine.finetune.validation`: the balanced accuracy, the weakest class, the classes with
far fewer labels than the others); the versions from the installed
packages. An INT8 comparison, known only after the model is written, goes in the card's text.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Optional

from engine.data.scan import ScanReport
from engine.export.deploy_readme import companion_path
from engine.finetune.validation import likely_range
from engine.store.runs import PretrainRun, RunFolderError, backbone_file, open_run_folder

FILE_NAME = "MODEL_CARD.md"
TITLE = "# Model card"
FEW_LABELS = 10           # a class with fewer labels is named among the known limits
WEAK_CLASS = 0.7          # so is a class whose validation accuracy is below this
RUNTIMES = ("torch", "onnx", "onnxruntime", "onnxscript")


def path_for(model_path: Path) -> Path:
    """``MODEL_CARD.md`` beside the model, unless it describes another model: then
    ``<model name>.MODEL_CARD.md``."""
    return companion_path(model_path, FILE_NAME, f"{TITLE}: {model_path.name}")


def card_facts(meta: dict, options: dict) -> dict:
    """The card's facts as plain values. ``meta``: the trained model's meta (a classifier's or
    a backbone's); ``options``: the export options (kind, raw_input, precision, int8,
    exporter)."""
    run = _pretraining_run(meta)
    config = meta.get("config") or (run.config().to_dict() if run else {})
    classifier = options["kind"] == "classifier"
    facts = {
        "data": _data(meta, config, run),
        "pretraining": {"method": meta.get("method") or config.get("method"), "backbone": meta["backbone"],
                        "budget": _budget(config), "device": config.get("device"),
                        "image_size": meta["image_size"], "run": str(run.path) if run else None},
        "export": dict(options),
        "versions": _versions(),
    }
    if classifier:
        validation = meta.get("validation") or {}
        bounds = likely_range(validation)
        facts["fine_tune"] = {
            "mode": meta.get("mode"), "labels_used": meta.get("labels_used"),
            "labels_per_class": dict(meta.get("labels_per_class") or {}),
            "validation_accuracy": validation.get("accuracy"), "validation_scheme": validation.get("scheme"),
            "overall_accuracy": validation.get("overall_accuracy"), "likely_range": list(bounds) if bounds else None,
            "per_class_accuracy": dict(validation.get("per_class") or {}),
            "worst_class": validation.get("worst_class"), "few_labels": list(validation.get("few_labels") or []),
        }
    facts["intended_use"] = _intended_use(facts, meta.get("classes") if classifier else None)
    facts["limits"] = _limits(facts)
    return facts


def _pretraining_run(meta: dict) -> Optional[PretrainRun]:
    """The pretraining run of ``meta`` (a fine-tune's ``pretrain_run``, or the backbone's own run
    folder; either may name the backbone file), or None."""
    folder = meta.get("pretrain_run") or meta.get("run_dir")
    if not folder:
        return None
    try:
        return open_run_folder(backbone_file(folder).parent)
    except RunFolderError:
        return None


def _data(meta: dict, config: dict, run: Optional[PretrainRun]) -> dict:
    """Folder name, image count, the commonest sizes and the scan's problem count."""
    root = meta.get("data_dir") or config.get("data_dir") or ""
    data = {"folder": Path(root).name if root else None, "images": None, "sizes": [], "problems": None,
            "channels": meta.get("in_channels")}
    if run is not None and run.scan_path.is_file():
        try:
            report = ScanReport.load(run.scan_path)
        except (OSError, ValueError, KeyError, TypeError):   # an unreadable scan: its figures stay unknown
            return data
        data.update(images=report.usable, problems=len(report.problems),
                    sizes=[f"{w}x{h}" for (w, h), _ in report.size_histogram().most_common(3)])
    return data


def _budget(config: dict) -> Optional[str]:
    if config.get("minutes"):
        return f"{config['minutes']:g} minutes"
    return f"{config['epochs']} epochs" if config.get("epochs") else None


def _versions() -> dict[str, Optional[str]]:
    """``{package: its __version__, or None when it is not installed}`` for :data:`RUNTIMES`."""
    versions = {}
    for name in RUNTIMES:
        try:
            versions[name] = getattr(importlib.import_module(name), "__version__", None)
        except ImportError:
            versions[name] = None
    return versions


def _intended_use(facts: dict, classes: Optional[list]) -> str:
    folder = facts["data"]["folder"] or "the training folder"
    if classes:
        return (f"Sorting images like those in '{folder}' into {len(classes)} classes ({', '.join(classes)}), "
                "with a person checking the answers that matter. Not for decisions about people, health or "
                "safety on its own.")
    return (f"Turning images like those in '{folder}' into feature vectors, for similarity search, "
            "deduplication, clustering or training a small classifier. It predicts no classes by itself.")


def _limits(facts: dict) -> list[str]:
    data = facts["data"]
    sizes = f", mostly {', '.join(data['sizes'])} px" if data["sizes"] else ""
    colour = {1: "grayscale", 3: "colour"}.get(data["channels"], "")
    limits = [f"Trained only on images like those in '{data['folder']}' ({colour}{sizes}). Images unlike them "
              "(other subjects, cameras, lighting, sizes or colours) can get confident but wrong answers."]
    tune = facts.get("fine_tune")
    if tune:
        few = [f"{name} ({count})" for name, count in tune["labels_per_class"].items() if count < FEW_LABELS]
        if few:
            limits.append(f"Classes with few labels, whose accuracy is uncertain: {', '.join(few)}.")
        if tune["few_labels"]:
            limits.append(f"Classes with far fewer labels than the others: {', '.join(tune['few_labels'])}; "
                          "label more of them for a fair estimate and a better model.")
        weak = [f"{name} ({accuracy:.0%})" for name, accuracy in tune["per_class_accuracy"].items()
                if accuracy is not None and accuracy < WEAK_CLASS]
        if weak:
            limits.append(f"Classes the validation often got wrong: {', '.join(weak)}.")
        if tune["likely_range"] is None:
            limits.append("No validation estimate: too few labels per class to hold any out.")
    if data["problems"]:
        limits.append(f"{data['problems']} files of the folder could not be used in training (see the scan).")
    return limits


def _percent(value: Optional[float]) -> str:
    return "unknown" if value is None else f"{100 * value:.1f}%"


def render(facts: dict, file_name: str, int8=None) -> str:
    """The card as Markdown; ``int8``: the INT8 comparison (:class:`engine.export.quantize.Int8Report`), if any."""
    data, pre, export, versions = facts["data"], facts["pretraining"], facts["export"], facts["versions"]
    unknown = "unknown"
    lines = [
        f"{TITLE}: {file_name}", "",
        f"A {export['kind']} exported by Pretext Studio.", "",
        "## Intended use", "", facts["intended_use"], "",
        "## Data", "",
        f"- Folder: {data['folder'] or unknown}",
        f"- Images used: {unknown if data['images'] is None else data['images']}",
        f"- Commonest sizes: {', '.join(data['sizes']) or unknown}",
        f"- Files the scan could not use: {unknown if data['problems'] is None else data['problems']}", "",
        "## Pretraining", "",
        f"- Self-supervised method: {pre['method']}",
        f"- Backbone: {pre['backbone']}, at {pre['image_size']} px",
        f"- Budget: {pre['budget'] or unknown}",
        f"- Device: {pre['device'] or unknown}", "",
    ]
    tune = facts.get("fine_tune")
    if tune:
        bounds = tune["likely_range"]
        likely = f" (likely {100 * bounds[0]:.0f}%–{100 * bounds[1]:.0f}% on new images)" if bounds else ""
        worst = tune["worst_class"]
        lines += [
            "## Fine-tuning", "",
            f"- Mode: {tune['mode']}, on {tune['labels_used']} labels",
            f"- Validation accuracy (balanced: the mean over classes of each class's accuracy): "
            f"{_percent(tune['validation_accuracy'])}{likely}, {tune['validation_scheme'] or 'no'} validation",
            f"- Share of all validated labels right: {_percent(tune['overall_accuracy'])}",
            *([f"- Weakest class: {worst}, {_percent(tune['per_class_accuracy'].get(worst))}"] if worst else []),
            "",
            "| Class | Labels | Validation accuracy |", "|---|---:|---:|",
            *(f"| {name} | {count} | {_percent(tune['per_class_accuracy'].get(name))} |"
              for name, count in tune["labels_per_class"].items()),
            "",
        ]
    options = [f"precision {export['precision']}", "raw uint8 input" if export["raw_input"] else "float input",
               f"exporter {export['exporter']}"]
    lines += ["## Export", "", f"- Options: {', '.join(options)}",
              "- Runtimes: " + ", ".join(f"{name} {version}" for name, version in versions.items() if version)]
    if int8 is not None:
        lines += [f"- INT8: {Path(int8.path).name}. {int8.summary()}"]
    lines += ["", "## Known limits", "", *(f"- {limit}" for limit in facts["limits"]), ""]
    return "\n".join(lines)
