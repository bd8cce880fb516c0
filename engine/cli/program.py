"""``pretext-studio-cli``: the engine's headless commands.

    pretext-studio-cli scan DIR
    pretext-studio-cli pretrain DIR [--method ... --epochs N | --minutes M ...]
    pretext-studio-cli pretrain --sample
    pretext-studio-cli pretrain --resume RUN_DIR
    pretext-studio-cli export RUN_OR_PROJECT --out model.onnx [--raw-input] [--fp16] [--embedding]
    pretext-studio-cli predict model.onnx IMAGE_OR_DIR [--csv out.csv]
    pretext-studio-cli suggest RUN_DIR [--n 20] [--labels labels.csv]
    pretext-studio-cli finetune RUN_DIR --labels labels.csv [--mode auto|linear|full|semi] [--minutes M] [--out DIR]
    pretext-studio-cli cache [--clear]

Bad arguments or folders print one line and exit with code 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from engine.cli import export as cli_export
from engine.cli import finetune as cli_finetune
from engine.cli.console import ConsoleProgress
from engine.cli.flags import add_config_arguments, config_from_args
from engine.core.config import ConfigError, PretrainConfig
from engine.core.events import Cancelled

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse that prints one line, not the usage block, before exiting with code 2."""

    def error(self, message: str) -> None:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pretext-studio-cli", description="Self-supervised pretraining on an image folder.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    scan = commands.add_parser("scan", help="index a folder and report the files that cannot be used")
    scan.add_argument("folder", type=Path)
    scan.add_argument("--quick", action="store_true", help="read headers only (does not find truncated files)")

    pre = commands.add_parser("pretrain", help="pretrain a backbone with self-supervised learning")
    source = pre.add_mutually_exclusive_group()
    source.add_argument("folder", nargs="?", type=Path, help="the image folder")
    source.add_argument("--sample", action="store_true", help="use the bundled sample dataset")
    source.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a stopped run")
    add_config_arguments(pre)
    cli_export.add_parsers(commands)
    cli_finetune.add_parsers(commands)
    cache = commands.add_parser("cache", help="show the room the user cache takes, or clear it")
    cache.add_argument("--clear", action="store_true", help="delete it all (what is needed is made again)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "scan":
            return _scan(args)
        if args.command == "cache":
            return _cache(args)
        if args.command in cli_export.COMMANDS:
            return cli_export.run(args)
        if args.command in cli_finetune.COMMANDS:
            return cli_finetune.run(args)
        return _pretrain(args)
    except (ValueError, OSError, FloatingPointError) as error:   # bad input, a full disk, a diverging loss
        print(f"pretext-studio-cli: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except Cancelled:   # Ctrl+C before a run folder existed (while scanning or decoding)
        print("cancelled: nothing was written", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def _cache(args) -> int:
    from engine.core.user_cache import cache_root, clear, human_size, usage

    folders = usage()
    print(f"cache folder: {cache_root()}")
    for folder in folders:
        print(f"  {folder.holds}: {human_size(folder.bytes)}")
    if not folders:
        print("  empty")
    if args.clear:
        print(f"cleared: {human_size(clear())} freed")
    return 0


def _scan(args) -> int:
    from engine.data.scan import scan_folder

    progress = ConsoleProgress()
    report = scan_folder(args.folder, on_event=progress, verify=not args.quick)
    progress.close()
    print(report.summary_text())
    return 0


def _pretrain(args) -> int:
    from engine.pretrain import distributed

    if distributed.launched_by_torchrun():
        distributed.init_from_env()
    try:
        return _run_pretraining(args, quiet=not distributed.is_main_process())
    finally:
        distributed.shutdown()


def _run_pretraining(args, quiet: bool) -> int:
    from engine import run_pretraining

    cfg = pretrain_config(args) if args.resume is None else None
    progress = ConsoleProgress(quiet=quiet)
    try:
        result = run_pretraining(cfg, on_event=progress, cancel=progress.cancel_token, resume=args.resume)
    finally:
        progress.close()
    if quiet:
        return 0 if result.status == "completed" else 130
    loss = f"{result.final_loss:.4f}" if result.final_loss is not None else "n/a"
    of_total = f"/{result.total_steps}" if result.total_steps else ""   # 0: stopped before a budget's plan
    print(f"{result.status}: step {result.step}{of_total}, final loss {loss}")
    print(f"run folder: {result.run_dir}")
    if result.status == "cancelled":
        print(f"resume with: pretext-studio-cli pretrain --resume {result.run_dir}")
        return 130
    return 0


def pretrain_config(args) -> PretrainConfig:
    """The validated config that parsed ``pretrain`` arguments describe (a new run, not ``--resume``)."""
    return config_from_args(args, data_dir=str(_data_folder(args))).validate()


def _data_folder(args) -> Path:
    if args.sample:
        from resources import SAMPLE_DIR

        return SAMPLE_DIR
    if args.folder is None:
        raise ConfigError("give an image folder, --sample or --resume RUN_DIR")
    return args.folder
