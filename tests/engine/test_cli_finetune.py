"""The suggest and finetune commands: the happy path, and one clear line with exit code 2 for bad input."""
import re
from pathlib import Path

import pytest

from engine.cli import program as cli
from engine.models.model_io import load_classifier
from engine.store.runs import classifier_file
from tests.engine.fewlabel_data import pick, pretrained  # noqa: F401 - the fixture
from tests.engine.run_helpers import exit_code


def write_csv(path: Path, labels: dict) -> Path:
    path.write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in labels.items()))
    return path


def test_suggest_prints_paths_with_reasons_and_skips_labeled_ones(pretrained, tmp_path, capsys):
    run_dir, _, truth = pretrained
    labels = write_csv(tmp_path / "labels.csv", pick(truth, 1))
    assert cli.main(["suggest", str(run_dir), "--n", "5", "--labels", str(labels), "--device", "cpu"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert len(lines) == 5
    paths = [line.split("\t")[0] for line in lines]
    assert set(paths) <= set(truth) and not set(paths) & set(pick(truth, 1))
    assert all(line.split("\t")[1] for line in lines)


def test_a_timed_semi_fine_tune_says_its_folds_trained_shorter(pretrained, tmp_path, capsys):
    run_dir, _, truth = pretrained
    labels = write_csv(tmp_path / "labels.csv", pick(truth, 2))
    code = cli.main(["finetune", str(run_dir), "--labels", str(labels), "--mode", "semi", "--minutes", "0.05",
                     "--device", "cpu", "--out", str(tmp_path / "ft")])
    assert code == 0
    out = capsys.readouterr().out
    steps = load_classifier(classifier_file(out.split("run folder: ")[1].split()[0]))[1]["validation"]["steps"]
    expected = f"each fold trained {steps['fold']:,} steps and the final model {steps['final']:,}: a cautious estimate"
    assert expected in out


def test_finetune_writes_a_run_folder_and_prints_the_validation(pretrained, tmp_path, capsys):
    run_dir, _, truth = pretrained
    labels = write_csv(tmp_path / "labels.csv", pick(truth, 3))
    code = cli.main(["finetune", str(run_dir), "--labels", str(labels), "--mode", "linear", "--device", "cpu",
                     "--out", str(tmp_path / "ft")])
    assert code == 0
    out = capsys.readouterr().out
    assert "validation (leave-one-out on 9 of 9 labels): accuracy" in out and "per class:" in out
    assert re.search(r"accuracy \d+\.\d% \(likely \d+%–\d+% on new images\)", out)
    folder = Path(out.split("run folder: ")[1].split()[0])
    assert load_classifier(classifier_file(folder))[1]["labels_used"] == 9

    assert cli.main(["suggest", str(folder), "--n", "4", "--device", "cpu"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert any("the model is unsure" in line for line in lines)
    assert not {line.split("\t")[0] for line in lines} & set(pick(truth, 3))


@pytest.mark.parametrize("args, words", [
    (["finetune", "{run}", "--labels", "{one_class}"], "only one class"),
    (["finetune", "{run}", "--labels", "{empty}"], "there are no labels"),
    (["finetune", "{run}", "--labels", "{broken}"], "line(s) 2 are not 'path,label' rows"),
    (["finetune", "{run}", "--labels", "{missing}"], "cannot read labels"),
    (["finetune", "{tmp}", "--labels", "{two_classes}"], "no finished pretraining"),
    (["finetune", "{run}", "--labels", "{one_class}", "--mode", "magic"], "invalid choice: 'magic'"),
    (["finetune", "{run}"], "the following arguments are required: --labels"),
    (["suggest", "{tmp}"], "no finished pretraining"),
    (["suggest", "{run}", "--n", "0"], "--n must be at least 1"),
])
def test_bad_input_prints_one_line_and_exits_2(pretrained, tmp_path, capsys, args, words):
    run_dir, _, _ = pretrained
    names = {"run": run_dir, "tmp": tmp_path, "missing": tmp_path / "missing.csv",
             "one_class": write_csv(tmp_path / "one.csv", {"r/rows_00.png": "rows", "r/rows_01.png": "rows"}),
             "two_classes": write_csv(tmp_path / "two.csv", {"r/rows_00.png": "rows", "d/disc_00.png": "disc"}),
             "empty": write_csv(tmp_path / "empty.csv", {}),
             "broken": write_csv(tmp_path / "broken.csv", {"r/rows_00.png": "rows,extra"})}
    assert exit_code([arg.format(**names) for arg in args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_absolute_and_dot_slash_paths_inside_the_folder_count_and_conflicting_rows_are_reported(
        pretrained, tmp_path, capsys):
    run_dir, root, truth = pretrained
    chosen = sorted(pick(truth, 3).items())
    rows = [(str(root / path) if i % 3 == 1 else f"./{path}" if i % 3 == 2 else path, label)
            for i, (path, label) in enumerate(chosen)]
    first_path, first_label = chosen[0]
    other = next(label for _, label in chosen if label != first_label)
    rows.insert(1, (first_path, other))                       # listed again below with its true label
    rows.append((first_path, first_label))
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in rows))
    code = cli.main(["finetune", str(run_dir), "--labels", str(labels), "--mode", "linear", "--device", "cpu",
                     "--out", str(tmp_path / "ft")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "not in" not in captured.err                       # no label was dropped as a missing file
    lines = f"{2}, {3}, {len(rows) + 1}"                      # header is line 1
    assert (f"warning: {labels}: '{first_path}' has different labels on lines {lines} "
            f"({first_label}, {other}, {first_label}): kept '{first_label}', the last") in captured.err
    folder = Path(captured.out.split("run folder: ")[1].split()[0])
    assert load_classifier(classifier_file(folder))[1]["labels_used"] == len(chosen)
