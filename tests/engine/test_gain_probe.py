"""The gain probe during pretraining: its figure, events, metrics rows, budget and bad labels."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from engine import ConfigError, Progress, Stage, Warning, run_pretraining
from engine.cli import program as cli
from engine.core.events import ProbeResult
from engine.finetune.probe import feature_statistics, fit_linear
from engine.finetune.validation import choose_folds
from engine.maps.embed import compute_features, open_images
from engine.models.model_io import load_backbone
from engine.pretrain import gain_probe
from engine.store.runs import backbone_file, open_run_folder
from tests.engine.run_helpers import tiny_config


def shape_labels(folder: Path) -> dict[str, str]:
    """The true class of every image of the ``image_folder`` fixture: odd files are discs."""
    return {path.relative_to(folder).as_posix(): "disc" if int(path.stem[-4:]) % 2 else "square"
            for path in sorted(folder.rglob("*.png"))}


def write_csv(path: Path, labels: dict[str, str]) -> str:
    path.write_text("path,label\n" + "".join(f"{p},{label}\n" for p, label in labels.items()))
    return str(path)


def probes_of(events) -> list[ProbeResult]:
    return [e.metrics for e in events if isinstance(e, Progress) and e.stage is Stage.PROBE]


def warnings_of(events) -> list[str]:
    return [e.message for e in events if isinstance(e, Warning)]


@pytest.fixture
def every_epoch(monkeypatch):
    """A budget that lets a probe follow every epoch of a tiny run."""
    monkeypatch.setattr(gain_probe, "PROBE_SHARE", 1e6)


def test_the_probe_figure_is_a_leave_one_out_linear_head_on_the_backbone_features(image_folder, tmp_path,
                                                                                   every_epoch):
    labels = dict(list(shape_labels(image_folder).items())[:12])   # 12 labels, 6 per class
    csv = write_csv(tmp_path / "labels.csv", labels)
    events = []
    result = run_pretraining(tiny_config(image_folder, tmp_path, epochs=2, batch_size=8, probe_labels=csv),
                             on_event=events.append)
    last = probes_of(events)[-1]
    assert last.epoch == 2 and last.labels == 12 and last.classes == 2 and last.scheme == "5-fold"

    # by hand, on the saved backbone (the one the last probe saw): the same features, the same folds
    backbone, meta = load_backbone(backbone_file(result.run_dir))
    _report, store = open_images(meta, cache_dir=str(tmp_path / "cache"))
    rows = torch.tensor([store.paths.index(p) for p in sorted(labels)])
    raw = compute_features(backbone, store, meta["mean"], meta["std"], torch.device("cpu"))[rows]
    y = torch.tensor([["disc", "square"].index(labels[p]) for p in sorted(labels)])
    mean, std = feature_statistics(raw)
    x = (F.normalize(raw, dim=1) - mean) / std
    _scheme, folds = choose_folds(y, 2, 5, seed=0)
    right = 0
    for test in folds:
        train = torch.tensor([i for i in range(len(y)) if i not in test.tolist()])
        head = fit_linear(x[train], y[train], 2)
        right += int((head(x[test]).argmax(1) == y[test]).sum())
    assert last.accuracy == pytest.approx(right / len(y))
    assert last.evaluated == len(y)


def test_probes_go_out_as_events_and_into_metrics_with_their_cost(image_folder, tmp_path, every_epoch):
    csv = write_csv(tmp_path / "labels.csv", shape_labels(image_folder))
    events = []
    result = run_pretraining(tiny_config(image_folder, tmp_path, epochs=2, batch_size=8, probe_labels=csv),
                             on_event=events.append)
    probes = probes_of(events)
    assert [p.epoch for p in probes] == [0, 1, 2]
    untrained = probes[0].accuracy
    assert untrained is not None and all(p.untrained_accuracy == untrained for p in probes)
    assert all(p.labels == 24 and p.classes == 2 and p.cost_s > 0 for p in probes)
    assert probes[0].share == 0 and all(p.share > 0 for p in probes[1:])
    progress = [e for e in events if isinstance(e, Progress) and e.stage is Stage.PROBE]
    assert [e.step for e in progress] == [0, 3, 6]
    rows = [row for row in open_run_folder(result.run_dir).read_metrics() if "probe" in row]
    assert [ProbeResult(**row["probe"]) for row in rows] == probes
    assert [row["step"] for row in rows] == [0, 3, 6]


def test_the_same_seed_gives_the_same_untrained_figure(image_folder, tmp_path):
    csv = write_csv(tmp_path / "labels.csv", shape_labels(image_folder))
    figures = []
    for name in ("one", "two"):
        events = []
        run_pretraining(tiny_config(image_folder, tmp_path / name, probe_labels=csv), on_event=events.append)
        figures.append(probes_of(events)[0])
    assert figures[0].accuracy == figures[1].accuracy and figures[0].epoch == 0


def test_a_budget_too_small_for_any_probe_is_said_once(image_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(gain_probe, "PROBE_SHARE", 1e-9)
    csv = write_csv(tmp_path / "labels.csv", shape_labels(image_folder))
    events = []
    result = run_pretraining(tiny_config(image_folder, tmp_path, epochs=3, batch_size=8, probe_labels=csv),
                             on_event=events.append)
    assert result.status == "completed"
    assert [p.epoch for p in probes_of(events)] == [0]
    said = [m for m in warnings_of(events) if "only the untrained figure" in m]
    assert len(said) == 1 and "one probe takes" in said[0]


def test_the_real_budget_keeps_the_probes_within_five_percent(image_folder, tmp_path):
    csv = write_csv(tmp_path / "labels.csv", shape_labels(image_folder))
    events = []
    run_pretraining(tiny_config(image_folder, tmp_path, epochs=3, batch_size=8, probe_labels=csv),
                    on_event=events.append)
    assert all(p.share <= gain_probe.PROBE_SHARE for p in probes_of(events)[1:])


def test_unknown_paths_are_counted_and_the_rest_used(image_folder, tmp_path, every_epoch):
    labels = {**shape_labels(image_folder), "gone/x.png": "disc", "gone/y.png": "square"}
    events = []
    result = run_pretraining(tiny_config(image_folder, tmp_path, probe_labels=write_csv(tmp_path / "l.csv", labels)),
                             on_event=events.append)
    assert result.status == "completed"
    assert "Gain probe: 2 of 26 labeled images are not among the training images; using the other 24." \
        in warnings_of(events)
    assert all(p.labels == 24 for p in probes_of(events))


def test_a_single_class_gives_no_probe_and_the_run_trains(image_folder, tmp_path):
    labels = {path: "disc" for path in shape_labels(image_folder)}
    events = []
    result = run_pretraining(tiny_config(image_folder, tmp_path, probe_labels=write_csv(tmp_path / "l.csv", labels)),
                             on_event=events.append)
    assert result.status == "completed" and probes_of(events) == []
    assert any("only one class ('disc')" in m for m in warnings_of(events))


def test_one_label_per_class_gives_no_figure_and_says_why(image_folder, tmp_path, every_epoch):
    labels = dict(list(shape_labels(image_folder).items())[:2])
    events = []
    result = run_pretraining(tiny_config(image_folder, tmp_path, probe_labels=write_csv(tmp_path / "l.csv", labels)),
                             on_event=events.append)
    assert result.status == "completed"
    assert any("every class has a single label" in m for m in warnings_of(events))
    assert [p.accuracy for p in probes_of(events)] == [None, None]


def test_a_class_with_one_label_leaves_the_figure_to_the_others(image_folder, tmp_path):
    labels = {**dict(list(shape_labels(image_folder).items())[:8]), "a/img_0009.png": "odd one"}
    events = []
    run_pretraining(tiny_config(image_folder, tmp_path, probe_labels=write_csv(tmp_path / "l.csv", labels)),
                    on_event=events.append)
    assert any("odd one has a single label" in m for m in warnings_of(events))
    assert probes_of(events)[0].evaluated == 8 and probes_of(events)[0].accuracy is not None


@pytest.mark.parametrize("content, words", [(None, "cannot read labels from"), (b"\xff\xfe\x00bad", "cannot read"),
                                            (b"path,label\n", "holds no 'path,label' rows")])
def test_an_unreadable_csv_stops_the_run_before_any_work(image_folder, tmp_path, content, words):
    csv = tmp_path / "labels.csv"
    if content is not None:
        csv.write_bytes(content)
    events = []
    with pytest.raises(ConfigError, match=words) as raised:
        run_pretraining(tiny_config(image_folder, tmp_path, probe_labels=str(csv)), on_event=events.append)
    assert str(csv) in str(raised.value) and len(str(raised.value).splitlines()) == 1
    assert events == [] and not (tmp_path / "runs").exists()


def test_the_cli_reports_the_probe_in_its_lines(image_folder, tmp_path, capsys, every_epoch):
    csv = write_csv(tmp_path / "labels.csv", shape_labels(image_folder))
    code = cli.main(["pretrain", str(image_folder), "--backbone", "smallcnn", "--image-size", "16",
                     "--batch-size", "12", "--epochs", "1", "--device", "cpu", "--probe-labels", csv,
                     "--out", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    err = capsys.readouterr().err
    untrained = next(line for line in err.splitlines() if "untrained backbone reaches" in line)
    figure = untrained.split("reaches ")[1]
    assert untrained == f"gain probe: a quick fine-tune on 24 labels with the untrained backbone reaches {figure}"
    trained = next(line for line in err.splitlines() if line.startswith("gain probe after epoch 1"))
    assert f"(untrained backbone: {figure}; probes took" in trained
    assert f"  probe {figure} (untrained {figure})" in err      # the progress line carries the figures


def test_the_cli_refuses_an_unreadable_csv_in_one_line(image_folder, tmp_path, capsys):
    code = cli.main(["pretrain", str(image_folder), "--probe-labels", str(tmp_path / "missing.csv"),
                     "--out", str(tmp_path / "runs")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "missing.csv" in err and len(err.splitlines()) == 1
