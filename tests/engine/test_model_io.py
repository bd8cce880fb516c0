"""Loading backbones, saving and loading classifiers: same outputs after a round trip, clear errors."""
import pytest
import torch

from engine.models.model_io import Classifier, load_backbone, load_classifier, save_classifier
from tests.engine.fewlabel_data import pretrained  # noqa: F401 - the fixture


def classifier_meta(meta: dict) -> dict:
    keys = ("backbone", "small_stem", "in_channels", "image_size", "feature_dim", "mean", "std", "method")
    return {**{k: meta.get(k) for k in keys}, "classes": ["a", "b", "c"], "mode": "linear"}


def test_backbone_loads_from_the_run_folder_or_its_file_in_eval_mode(pretrained):
    run_dir, _, _ = pretrained
    backbone, meta = load_backbone(run_dir)
    same, _ = load_backbone(run_dir / "backbone.pt")
    assert not backbone.training and meta["run_dir"] == str(run_dir) and "state_dict" not in meta
    x = torch.randn(3, meta["in_channels"], meta["image_size"], meta["image_size"])
    with torch.no_grad():
        features = backbone(x)
        assert features.shape == (3, meta["feature_dim"])
        assert torch.equal(features, same(x))


def test_classifier_round_trip_gives_the_same_logits(pretrained, tmp_path):
    backbone, meta = load_backbone(pretrained[0])
    classifier = Classifier(backbone, meta["feature_dim"], 3).eval()
    classifier.feature_mean.normal_()
    classifier.feature_std.uniform_(0.5, 2.0)
    torch.nn.init.normal_(classifier.head.weight)
    path = save_classifier(tmp_path / "ft", classifier, classifier_meta(meta))
    assert path == tmp_path / "ft" / "classifier.pt"
    loaded, loaded_meta = load_classifier(tmp_path / "ft")
    assert not loaded.training and loaded_meta["classes"] == ["a", "b", "c"] and loaded_meta["path"] == str(path)
    x = torch.randn(2, meta["in_channels"], meta["image_size"], meta["image_size"])
    with torch.no_grad():
        assert torch.allclose(classifier(x), loaded(x)) and loaded(x).shape == (2, 3)


def test_missing_or_damaged_files_raise_clear_errors(pretrained, tmp_path):
    with pytest.raises(ValueError, match="no finished pretraining in .*: run pretraining first"):
        load_backbone(tmp_path)
    with pytest.raises(ValueError, match="no fine-tuned classifier in .*: run fine-tuning first"):
        load_classifier(tmp_path)
    (tmp_path / "classifier.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a readable classifier file"):
        load_classifier(tmp_path)
    backbone, meta = load_backbone(pretrained[0])
    with pytest.raises(ValueError, match="classifier meta lacks classes"):
        save_classifier(tmp_path / "x", Classifier(backbone, meta["feature_dim"], 2), {"backbone": "smallcnn"})
