"""MODEL_CARD.md beside an exported model, and its main facts in the ONNX metadata."""
import shutil
from pathlib import Path

import onnx
import onnxruntime
import torch

from engine.data.scan import ImageRecord, Problem, ScanReport
from engine.deploy.onnx_meta import decode
from engine.export.model_card import card_facts, render
from engine.export.run import export_model
from engine.finetune.validation import likely_range
from engine.models.model_io import load_classifier
from engine.store.runs import classifier_file
from tests.engine.export_data import exported, finetuned, pretrained, rgb_run  # noqa: F401 - fixtures


def metadata_of(path) -> dict:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return decode(session.get_modelmeta().custom_metadata_map)


def test_a_classifier_card_tells_the_data_training_validation_export_use_and_limits(exported, finetuned):
    result = exported()
    card_path = Path(result.model_card_path)
    assert card_path == Path(result.path).with_name("MODEL_CARD.md")
    card = card_path.read_text()
    _, meta = load_classifier(classifier_file(finetuned[0]))
    low, high = likely_range(meta["validation"])
    assert card.startswith("# Model card: classifier.onnx\n")
    for line in ("- Folder: images", "- Images used: 48", "- Commonest sizes: 16x16",
                 "- Files the scan could not use: 0", "- Self-supervised method: simclr",
                 "- Backbone: smallcnn, at 16 px", "- Budget: 1 epochs", "- Device: cpu", "- Mode: linear, on 9 labels",
                 "- Validation accuracy (balanced: the mean over classes of each class's accuracy): "
                 f"{100 * meta['validation']['accuracy']:.1f}% "
                 f"(likely {100 * low:.0f}%–{100 * high:.0f}% on new images)",
                 f"- Share of all validated labels right: {100 * meta['validation']['overall_accuracy']:.1f}%",
                 "| rows | 3 |", "| columns | 3 |", "| disc | 3 |",
                 "- Options: precision fp32, float input, exporter dynamo",
                 f"torch {torch.__version__}", f"onnx {onnx.__version__}", f"onnxruntime {onnxruntime.__version__}"):
        assert line in card, line
    use = card.split("## Intended use")[1].split("##")[0]
    assert f"into 3 classes ({', '.join(meta['classes'])})" in use and "Not for decisions about people" in use
    limits = card.split("## Known limits")[1]
    assert "Classes with few labels, whose accuracy is uncertain: " in limits and "rows (3)" in limits
    assert "Images unlike them" in limits and "'images' (grayscale, mostly 16x16 px)" in limits


def test_the_cards_main_facts_are_in_the_onnx_metadata(exported, finetuned):
    result = exported(raw_input=True)
    facts = metadata_of(result.path)["model_card"]
    assert (facts["data"]["images"], facts["data"]["problems"], facts["data"]["folder"]) == (48, 0, "images")
    assert facts["pretraining"]["method"] == "simclr" and facts["pretraining"]["device"] == "cpu"
    assert facts["fine_tune"]["labels_per_class"] == {"columns": 3, "disc": 3, "rows": 3}
    assert facts["export"] == {"kind": "classifier", "raw_input": True, "precision": "fp32", "int8": False,
                               "exporter": "dynamo"}
    assert facts["versions"]["torch"] == torch.__version__ and facts["versions"]["onnxruntime"]
    assert facts["limits"] and facts["intended_use"].startswith("Sorting images like those in 'images'")
    assert "- Options: precision fp32, raw uint8 input" in Path(result.model_card_path).read_text()


def test_an_embedding_card_has_no_fine_tune_and_an_int8_card_names_both_models(exported):
    card = Path(exported("embedding").model_card_path).read_text()
    assert "## Fine-tuning" not in card and "feature vectors" in card and "Classes with few labels" not in card
    result = exported("embedding", int8=True)
    card = Path(result.model_card_path).read_text()
    assert f"- INT8: {Path(result.int8.path).name}. INT8 mean cosine similarity to fp32" in card
    int8_export = metadata_of(result.int8.path)["model_card"]["export"]
    assert int8_export["int8"] is True and int8_export["precision"] == "int8"
    assert metadata_of(result.path)["model_card"]["export"]["precision"] == "fp32"


def test_each_model_in_a_folder_keeps_its_own_card(finetuned, tmp_path):
    first = export_model(finetuned[0], tmp_path / "a.onnx")
    second = export_model(finetuned[0], tmp_path / "b.onnx")
    assert [Path(r.model_card_path).name for r in (first, second)] == ["MODEL_CARD.md", "b.MODEL_CARD.md"]
    assert Path(second.model_card_path).read_text().startswith("# Model card: b.onnx\n")


def test_scan_problems_weak_classes_and_missing_facts_show_in_the_card(finetuned, tmp_path):
    _, meta = load_classifier(classifier_file(finetuned[0]))
    run = tmp_path / "pretraining"
    run.mkdir()
    shutil.copy(Path(meta["pretrain_run"]) / "config.json", run / "config.json")
    records = [ImageRecord(f"{i}.png", 10, 0.0, 32, 24, "RGB") for i in range(5)]
    ScanReport(str(tmp_path), records, [Problem("bad.png", "truncated", "cut short")] * 2).save(run / "scan.json")
    meta = {**meta, "pretrain_run": str(run), "labels_per_class": {"rows": 30, "columns": 30, "disc": 4},
            "validation": {**meta["validation"], "per_class": {"rows": 0.95, "columns": 0.5, "disc": None},
                           "worst_class": "columns", "few_labels": ["disc"]}}
    facts = card_facts(meta, {"kind": "classifier", "raw_input": False, "precision": "fp16", "int8": False,
                              "exporter": "torchscript"})
    assert facts["data"]["images"] == 5 and facts["data"]["problems"] == 2 and facts["data"]["sizes"] == ["32x24"]
    text = render(facts, "m.onnx")
    assert "Classes with few labels, whose accuracy is uncertain: disc (4)." in text
    assert "Classes the validation often got wrong: columns (50%)." in text
    assert "- Weakest class: columns, 50.0%" in text
    assert "Classes with far fewer labels than the others: disc; label more of them" in text
    assert "2 files of the folder could not be used in training" in text
    assert "| disc | 4 | unknown |" in text and "exporter torchscript" in text

    bare = card_facts({"backbone": "smallcnn", "image_size": 16, "in_channels": 1, "classes": ["a", "b"]},
                      {"kind": "classifier", "raw_input": False, "precision": "fp32", "int8": False,
                       "exporter": "dynamo"})
    text = render(bare, "m.onnx")
    assert "- Images used: unknown" in text and "- Budget: unknown" in text and "Weakest class" not in text
    assert "No validation estimate" in text
