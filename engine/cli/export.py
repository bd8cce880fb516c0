"""The CLI's deployment commands, registered by :mod:`engine.cli`::

    pretext-studio-cli export RUN_OR_PROJECT --out model.onnx [--raw-input] [--fp16 | --int8] [--embedding]
                                [--overwrite] [--verify-images DIR] [--calibration-images DIR]
    pretext-studio-cli predict model.onnx IMAGE_OR_DIR [--csv out.csv [--overwrite]]

``predict`` imports onnxruntime, numpy and Pillow only, never torch.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

COMMANDS = ("export", "predict")
SOME_FILES_FAILED = 1
PROGRESS_FROM = 100      # files; fewer are predicted before a progress line would help


def add_parsers(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="export a trained model to ONNX, verified against torch")
    export.add_argument("source", type=Path, metavar="RUN_OR_PROJECT",
                        help="a fine-tune or pretraining run folder, or an image folder with a project")
    export.add_argument("--out", type=Path, required=True, metavar="MODEL.onnx")
    export.add_argument("--raw-input", action="store_true",
                        help="take uint8 (N, H, W, C) images of any size; crop, resize and normalise inside the model")
    precision = export.add_mutually_exclusive_group()
    precision.add_argument("--fp16", action="store_true", help="float16 weights and arithmetic (half the file size)")
    precision.add_argument("--int8", action="store_true",
                           help="also write MODEL.int8.onnx, statically quantized on your images, and compare it "
                                "with the fp32 model (accuracy, size, latency)")
    export.add_argument("--embedding", action="store_true", help="export the backbone's embedding, not a classifier")
    export.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    export.add_argument("--verify-images", type=Path, metavar="DIR",
                        help="verify on these images (default: the images the model was trained on)")
    export.add_argument("--calibration-images", type=Path, metavar="DIR",
                        help="calibrate the INT8 model on these images (default: the images the model was trained on)")

    predict = commands.add_parser("predict", help="run an exported model on images (onnxruntime only, no torch)")
    predict.add_argument("model", type=Path, metavar="MODEL.onnx")
    predict.add_argument("images", type=Path, metavar="IMAGE_OR_DIR")
    predict.add_argument("--csv", type=Path, metavar="OUT.csv", help="also write the results as CSV")
    predict.add_argument("--overwrite", action="store_true", help="replace an existing CSV file")


def run(args: argparse.Namespace) -> int:
    return _export(args) if args.command == "export" else _predict(args)


def _export(args: argparse.Namespace) -> int:
    from engine.cli.console import ConsoleProgress
    from engine.export.run import export_model

    progress = ConsoleProgress()
    try:
        result = export_model(args.source, args.out, kind="embedding" if args.embedding else "classifier",
                              raw_input=args.raw_input, fp16=args.fp16, int8=args.int8,
                              verify_images=args.verify_images, calibration_images=args.calibration_images,
                              overwrite=args.overwrite, on_event=progress, cancel=progress.cancel_token)
    finally:
        progress.close()
    meta = result.metadata
    size = "x".join(str(side) for side in meta["input_size"])
    print(f"exported the {result.kind} to {result.path} ({result.size_bytes / 1e6:.1f} MB, {result.precision}, "
          f"input '{meta['input_name']}' {meta['input_dtype']} {meta['input_layout']}, network size {size})")
    agreement = "" if result.top1_agreement is None else f", top-1 agreement {100 * result.top1_agreement:.0f}%"
    print(f"verified on {result.images_checked} images at batch sizes "
          f"{', '.join(map(str, result.batch_sizes))}: max |onnxruntime - torch| = {result.max_abs_diff:.1e} "
          f"(limit {result.tolerance:.0e}){agreement}")
    if result.per_class_accuracy:
        print("accuracy of the exported model on its labeled images: "
              + ", ".join(f"{name} {100 * acc:.0f}%" for name, acc in result.per_class_accuracy.items()))
    if result.int8 is not None:
        print(result.int8.summary())
        recommended = result.int8.path if result.int8.recommended == "int8" else result.path
        print(f"INT8 model: {result.int8.path}\nrecommended: {recommended}")
    print(f"how to use it: {result.readme_path}\nwhat it is and where it falls short: {result.model_card_path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from engine.cli.console import ConsoleProgress
    from engine.deploy.predict import check_csv_target, image_files, load_model, write_csv

    model = load_model(args.model)
    files = image_files(args.images)
    if args.csv:          # before any prediction runs: a refused file is said at once
        check_csv_target(args.csv, args.overwrite, keep=[args.model, *files])
    progress = ConsoleProgress(quiet=len(files) < PROGRESS_FROM)
    try:
        predictions = model.predict(files, on_event=progress, cancel=progress.cancel_token)
    finally:
        progress.close()
    for p in predictions:
        if p.error is not None:
            print(f"{p.path}\terror: {p.error}")
        elif p.embedding is not None:
            norm = float((p.embedding ** 2).sum()) ** 0.5
            print(f"{p.path}\tembedding of {len(p.embedding)} values, norm {norm:.3f}")
        else:
            print(f"{p.path}\t{p.label}\t{p.probability:.3f}")
    if args.csv:
        write_csv(predictions, args.csv)
    failed = sum(p.error is not None for p in predictions)
    if failed:
        print(f"{failed} of {len(predictions)} file(s) could not be used", file=sys.stderr)
        return SOME_FILES_FAILED
    return 0
