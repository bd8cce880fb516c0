"""Loading backbones, saving and loading classifiers: same outputs after a round trip, clear errors."""
import pytest
import torch

from engine.models.model_io import BACKBONE_VERSION, Classifier, load_backbone, load_classifier, save_classifier
from engine.store.runs import FinetuneRun, PretrainRun
from tests.engine.fewlabel_data import pretrained  # noqa: F401 - the fixture


def classifier_meta(meta: dict) -> dict:
    keys = ("backbone", "small_stem", "in_channels", "image_size", "feature_dim", "mean", "std", "method")
    return {**{k: meta.get(k) for k in keys}, "classes": ["a", "b", "c"], "mode": "linear"}


def test_backbone_loads_from_its_file_in_eval_mode(pretrained):
    run_dir, _, _ = pretrained
    backbone, meta = load_backbone(PretrainRun(run_dir).backbone_path)
    assert not backbone.training and meta["run_dir"] == str(run_dir) and "state_dict" not in meta
    x = torch.randn(3, meta["in_channels"], meta["image_size"], meta["image_size"])
    with torch.no_grad():
        assert backbone(x).shape == (3, meta["feature_dim"])


def test_backbone_file_has_a_format_version_and_older_or_newer_files_are_handled(pretrained, tmp_path):
    saved = torch.load(PretrainRun(pretrained[0]).backbone_path, weights_only=True)
    assert saved["version"] == BACKBONE_VERSION
    x = torch.randn(2, saved["in_channels"], saved["image_size"], saved["image_size"])
    reference, _ = load_backbone(PretrainRun(pretrained[0]).backbone_path)
    older = tmp_path / "older.pt"
    torch.save({k: v for k, v in saved.items() if k != "version"}, older)   # written before the version existed
    backbone, meta = load_backbone(older)
    with torch.no_grad():
        assert torch.equal(backbone(x), reference(x)) and "version" not in meta
    newer = tmp_path / "newer.pt"
    torch.save({**saved, "version": BACKBONE_VERSION + 1}, newer)
    with pytest.raises(ValueError, match=f"backbone format {BACKBONE_VERSION + 1}, newer than .*update Pretext Studio"):
        load_backbone(newer)


def test_classifier_round_trip_gives_the_same_logits(pretrained, tmp_path):
    backbone, meta = load_backbone(PretrainRun(pretrained[0]).backbone_path)
    classifier = Classifier(backbone, meta["feature_dim"], 3).eval()
    classifier.feature_mean.normal_()
    classifier.feature_std.uniform_(0.5, 2.0)
    torch.nn.init.normal_(classifier.head.weight)
    path = save_classifier(FinetuneRun(tmp_path / "ft").classifier_path, classifier, classifier_meta(meta))
    assert path == tmp_path / "ft" / "classifier.pt"
    loaded, loaded_meta = load_classifier(path)
    assert not loaded.training and loaded_meta["classes"] == ["a", "b", "c"] and loaded_meta["path"] == str(path)
    x = torch.randn(2, meta["in_channels"], meta["image_size"], meta["image_size"])
    with torch.no_grad():
        assert torch.allclose(classifier(x), loaded(x)) and loaded(x).shape == (2, 3)


def test_missing_or_damaged_files_raise_clear_errors(pretrained, tmp_path):
    with pytest.raises(ValueError, match="no finished pretraining in .*: run pretraining first"):
        load_backbone(PretrainRun(tmp_path).backbone_path)
    with pytest.raises(ValueError, match="no fine-tuned classifier in .*: run fine-tuning first"):
        load_classifier(FinetuneRun(tmp_path).classifier_path)
    (tmp_path / "classifier.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a readable classifier file"):
        load_classifier(FinetuneRun(tmp_path).classifier_path)
    backbone, meta = load_backbone(PretrainRun(pretrained[0]).backbone_path)
    with pytest.raises(ValueError, match="classifier meta lacks classes"):
        save_classifier(tmp_path / "x.pt", Classifier(backbone, meta["feature_dim"], 2), {"backbone": "smallcnn"})
