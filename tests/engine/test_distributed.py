"""DDP on CPU with gloo and 2 ranks: same step as one process, rank 0 writes, resume after a kill.

About 60-100 s on 2 cores: each test starts two processes that import torch.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from engine import PretrainConfig
from engine.models.backbones import build_backbone
from engine.pretrain.distributed import wrap_for_ddp
from engine.pretrain.loop import run_pretraining
from engine.pretrain.methods import build_method
from engine.store.runs import open_run_folder

pytestmark = pytest.mark.slow

WORLD = 2
GLOBAL_BATCH = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build(method_name: str):
    torch.manual_seed(0)
    backbone, dim = build_backbone("smallcnn", 3, 16)
    return build_method(method_name, backbone, dim, 16, 3)


def global_views() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(GLOBAL_BATCH, 3, 16, 16, generator=generator) for _ in range(2)]


def one_ddp_step(rank: int, port: int, method_name: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        method = build(method_name)
        model = wrap_for_ddp(method, torch.device("cpu"))
        local = GLOBAL_BATCH // WORLD
        views = [v[rank * local:(rank + 1) * local] for v in global_views()]
        loss, _ = model(views)
        loss.backward()
        losses = [torch.zeros(1) for _ in range(WORLD)]
        dist.all_gather(losses, loss.detach().reshape(1))
        if rank == 0:
            grads = {n: p.grad for n, p in method.named_parameters() if p.grad is not None}
            torch.save({"loss": torch.cat(losses).mean(), "grads": grads}, out)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("method_name", ["simclr", "byol"])
def test_one_ddp_step_equals_one_process_with_the_global_batch(tmp_path, method_name):
    out = str(tmp_path / "ddp.pt")
    mp.start_processes(one_ddp_step, args=(free_port(), method_name, out), nprocs=WORLD, start_method="spawn")
    ddp = torch.load(out, weights_only=True)

    method = build(method_name)
    loss, _ = method(global_views())
    loss.backward()
    torch.testing.assert_close(ddp["loss"], loss.detach(), rtol=1e-4, atol=1e-5)
    single = {n: p.grad for n, p in method.named_parameters() if p.grad is not None}
    assert set(ddp["grads"]) == set(single)
    for name, grad in single.items():
        torch.testing.assert_close(ddp["grads"][name], grad, rtol=2e-3, atol=2e-5, msg=name)


def train_rank(rank: int, port: int, data_dir: str, root: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        cfg = PretrainConfig(data_dir=data_dir, out_dir=f"{root}/runs-of-rank-{rank}", cache_dir=f"{root}/cache",
                             method="simclr", backbone="smallcnn", image_size=16, batch_size=8, epochs=1,
                             device="cpu", checkpoint_every=1)
        run_pretraining(cfg)
    finally:
        dist.destroy_process_group()


def test_only_rank_0_writes_runs(image_folder, tmp_path):
    mp.start_processes(train_rank, args=(free_port(), str(image_folder), str(tmp_path)), nprocs=WORLD,
                       start_method="spawn")
    runs = list((tmp_path / "runs-of-rank-0").iterdir())
    assert len(runs) == 1 and open_run_folder(runs[0]).finished
    assert not (tmp_path / "runs-of-rank-1").exists() or not any((tmp_path / "runs-of-rank-1").iterdir())


def torchrun(*args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(WORLD),
               "--master_port", str(free_port()), "-m", "engine.cli", "pretrain", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def last_step(run_dir: Path) -> int:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines() if (run_dir / "metrics.jsonl").exists() else []
    return max([json.loads(line)["step"] for line in lines if line.strip()], default=0)


def test_killed_two_rank_run_resumes_from_its_checkpoint(image_folder, tmp_path):
    out = tmp_path / "runs"
    first = torchrun(str(image_folder), "--backbone", "smallcnn", "--method", "simclr", "--image-size", "16",
                     "--batch-size", "8", "--epochs", "40", "--checkpoint-every", "1", "--device", "cpu",
                     "--out", str(out), "--cache-dir", str(tmp_path / "cache"))
    deadline = time.monotonic() + 120
    run_dir = None
    while time.monotonic() < deadline and first.poll() is None:
        runs = list(out.glob("*-simclr-smallcnn")) if out.exists() else []
        run_dir = runs[0] if runs else None
        if run_dir is not None and last_step(run_dir) >= 3:
            break
        time.sleep(0.05)
    assert first.poll() is None, first.communicate()[0][-2000:]
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    # torchrun may start its workers in their own process groups: end them too, or they go on
    # writing the run folder that the resumed run reads
    subprocess.run(["pkill", "-9", "-f", str(out)], check=False)
    deadline = time.monotonic() + 10
    alive = ["pgrep", "-f", str(out)]
    while time.monotonic() < deadline and subprocess.run(alive, capture_output=True).returncode == 0:
        time.sleep(0.05)
    saved = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["loop"]["step"]
    assert saved >= 3 and not (run_dir / "backbone.pt").exists()

    second = torchrun("--resume", str(run_dir))
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output[-2000:]
    assert "completed: step 120/120" in output
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 120 and saved + 1 in steps[steps.index(saved) + 1:]
    assert (run_dir / "backbone.pt").is_file()
