"""Engine calls take the scan the caller already has instead of scanning the folder again."""
import numpy as np
import pytest

import engine.data.scan
from engine.data.scan import ScanError, reuse_or_scan, scan_folder
from engine.finetune.config import FinetuneConfig
from engine.finetune.run import run_finetune
from engine.maps.embed import embed_run
from tests.engine.fewlabel_data import pick, pretrained  # noqa: F401 - the fixture


@pytest.fixture
def no_scanning(monkeypatch) -> list:
    """Scans made from now on (their roots); engine.data.scan.scan_folder still works."""
    roots = []
    original = engine.data.scan.scan_folder

    def counting(root, *args, **kwargs):
        roots.append(str(root))
        return original(root, *args, **kwargs)

    monkeypatch.setattr(engine.data.scan, "scan_folder", counting)
    return roots


def test_a_scan_of_the_same_folder_is_reused_by_any_spelling_of_its_path(tmp_path, no_scanning):
    (tmp_path / "images").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "images")
    report = scan_folder(tmp_path / "images")
    assert reuse_or_scan(tmp_path / "alias", report) is report
    assert reuse_or_scan(str(tmp_path / "images") + "/", report) is report
    assert no_scanning == []
    assert reuse_or_scan(tmp_path, report) is not report and no_scanning == [str(tmp_path)]
    (tmp_path / "images").rename(tmp_path / "moved")         # a folder gone since its scan is said so
    with pytest.raises(ScanError, match="folder not found: .*images"):
        reuse_or_scan(tmp_path / "images", report)


def test_embedding_and_fine_tuning_with_a_scan_do_not_scan_again(pretrained, tmp_path, no_scanning):
    run_dir, root, truth = pretrained
    report = scan_folder(root, verify=True)
    scanned = embed_run(run_dir)
    assert len(no_scanning) == 1
    reused = embed_run(run_dir, scan=report)
    assert len(no_scanning) == 1 and reused.paths == scanned.paths
    np.testing.assert_array_equal(reused.features, scanned.features)

    cfg = FinetuneConfig(pretrain_run=str(run_dir), mode="linear", out_dir=str(tmp_path / "ft"))
    result = run_finetune(cfg, pick(truth, 2), scan=report)
    assert result.status == "completed" and len(no_scanning) == 1

    other = scan_folder(tmp_path)                 # a scan of another folder is not used
    embed_run(run_dir, scan=other)
    assert len(no_scanning) == 2
