"""ONNX Runtime's transformer fusions before int8 (issue 16), against the plain transformers.pipeline
and the current backends, in one process on the same sentences, the backends taking turns.

    python bench/bench_onnx_fusions.py MODEL_DIR SCRATCH_DIR [--dev ../shared/data/realnews_dev.jsonl]

MODEL_DIR needs model.onnx and model.int8.onnx (`stance export MODEL_DIR --int8`); the fused
graph and its int8 variants are written to SCRATCH_DIR, never into the model directory. An
experiment, not a serving path: the README ("Serving over HTTP") gives what it found.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DEV = ROOT.parent / "shared" / "data" / "realnews_dev.jsonl"


def int8_variants(model_dir: Path, scratch: Path, encoder) -> dict[str, Path]:
    """The fused fp32 graph and int8 copies made by model/export/onnx_quantize.py with different
    choices: unfused with every FFN output fp32 (the export before fusion), and fused with none,
    the first half (the export's default) or all of the FFN outputs fp32."""
    import onnx

    from model.export.onnx_quantize import fused_graph, quantize_int8

    scratch.mkdir(parents=True, exist_ok=True)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    shape = {"attention_heads": config["num_attention_heads"], "hidden_size": config["hidden_size"]}
    fp32 = model_dir / "model.onnx"
    fused = fused_graph(fp32, encoder=encoder, **shape)
    if fused is None:
        raise SystemExit(f"ONNX Runtime's optimizer found no attention to fuse in {fp32}")
    files = {"fused fp32": scratch / "fused.onnx"}
    onnx.save(fused, str(files["fused fp32"]))
    layers = config["num_hidden_layers"]
    variants = {"int8, unfused, all FFN outputs fp32 (the export before fusion)": ("unfused.int8.onnx", {}, layers),
                "int8, fused, all int8": ("fused.int8.all.onnx", shape, 0),
                "int8, fused, FFN outputs of the first half fp32 (the export)": ("fused.int8.half.onnx", shape, None),
                "int8, fused, all FFN outputs fp32": ("fused.int8.ffn_fp32.onnx", shape, layers)}
    for name, (file_name, fusion, kept) in tqdm(variants.items(), desc="quantising"):
        files[name] = scratch / file_name
        quantize_int8(fp32, files[name], encoder, fp32_feed_forward=kept, **fusion)
    return files


def int8_recipe(model_dir: Path) -> str:
    """What the int8 file's metadata says of how it was made (files exported before it was recorded say nothing)."""
    import onnx

    from model.export.onnx_quantize import RECIPE_KEY

    model = onnx.load(str(model_dir / "model.int8.onnx"), load_external_data=False)
    return {entry.key: entry.value for entry in model.metadata_props}.get(RECIPE_KEY, "unfused, before the recipe was recorded")


def recheck_share(model, texts: list[str]) -> float:
    """Share of `texts` whose int8 top-two margin (after the calibration map) sent them to fp32."""
    backend = model.backend
    backend.sentences_seen = backend.sentences_rechecked = 0
    model.predict_proba(texts)
    return backend.recheck_share


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("scratch", type=Path, help="where the fused and quantised graphs are written")
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV, help=f"labelled dev JSONL (default {DEFAULT_DEV})")
    parser.add_argument("--threads", type=int, default=1, help="inference threads for every backend (default 1)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not (args.model_dir / "model.int8.onnx").is_file():
        parser.error(f"{args.model_dir} lacks model.int8.onnx; run `stance export {args.model_dir} --int8` first")
    if args.scratch.resolve() == args.model_dir.resolve():
        parser.error("SCRATCH_DIR must not be the model directory")

    import torch
    from transformers import pipeline

    from model import StanceClassifier
    from model.backends.onnx_backend import OnnxBackend
    from model.backends.onnx_recheck import RecheckedInt8Backend
    from model.cpu_features import speed_flags_text
    from model.encoding import SentenceEncoder

    texts = [json.loads(line)["text"] for line in args.dev.open(encoding="utf-8") if line.strip()]
    reference = StanceClassifier.from_pretrained(args.model_dir, backend="torch", threads=args.threads)
    labels, encoder = reference.labels, SentenceEncoder.from_file(args.model_dir, reference.max_length)
    variants = int8_variants(args.model_dir, args.scratch, encoder)
    calibration = reference.calibration
    # Every file carries the calibration map in its head; each backend undoes it, and the
    # classifier applies it once (labels are compared after it, as predict gives them).
    folded, folded_int8 = calibration.folded_into("model.onnx"), calibration.folded_into("model.int8.onnx")

    def classifier(backend) -> StanceClassifier:
        model = StanceClassifier(backend, encoder, max_length=reference.max_length, batch_size=64)
        model.calibration = calibration
        return model

    def onnx_file(path: Path, map_folded=folded) -> StanceClassifier:
        return classifier(OnnxBackend(path, labels, threads=args.threads, unfold=map_folded))

    def rechecked(int8_file: Path, int8_map=folded) -> StanceClassifier:
        return classifier(RecheckedInt8Backend(int8_file, args.model_dir / "model.onnx", labels,
                                               threads=args.threads, unfold=(int8_map, folded)))

    ours = {"StanceClassifier, torch": reference,
            "ONNX fp32": onnx_file(args.model_dir / "model.onnx"),
            f"ONNX int8 (the model directory's file: {int8_recipe(args.model_dir)})": onnx_file(args.model_dir / "model.int8.onnx", folded_int8),
            "ONNX int8 + fp32 recheck (`backend=\"auto\"`)": rechecked(args.model_dir / "model.int8.onnx", folded_int8)}
    ours |= {name: onnx_file(path) for name, path in variants.items()}
    for name in list(variants)[1:]:
        ours[f"{name} + fp32 recheck"] = rechecked(variants[name])
    torch.set_num_threads(args.threads)
    classify = pipeline("text-classification", model=str(args.model_dir), device="cpu")
    runners = {"transformers.pipeline (batch 64)": lambda batch: [out["label"] for out in classify(list(batch), batch_size=64)]}
    for name, model in ours.items():
        runners[name] = (lambda model: lambda batch: [model.labels[i] for i in model.predict_proba(batch).argmax(1)])(model)

    for run in runners.values():
        run(texts[:64])
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in tqdm(range(args.repeats), desc="timing rounds"):
        for name, run in runners.items():
            started = time.perf_counter()
            run(texts)
            seconds[name].append(time.perf_counter() - started)
    baseline = "transformers.pipeline (batch 64)"
    speed = {name: len(texts) / statistics.median(times) for name, times in seconds.items()}
    torch_labels = runners["StanceClassifier, torch"](texts)
    fp32_logits = ours["ONNX fp32"].predict_logits(texts)
    print(f"{len(texts)} sentences, {args.threads} thread(s), median of {args.repeats}; {speed_flags_text()}; "
          f"load average {tuple(round(x, 1) for x in os.getloadavg())}\n")
    print("| backend | sentences/s | x pipeline | same label as torch | largest logit change vs ONNX fp32 | rechecked in fp32 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, run in runners.items():
        same = np.mean([a == b for a, b in zip(run(texts), torch_labels)])
        change = rechecked_share = ""
        if name in ours:
            model = ours[name]
            change = f"{np.abs(model.predict_logits(texts) - fp32_logits).max():.3f}"
            if isinstance(model.backend, RecheckedInt8Backend):
                rechecked_share = f"{recheck_share(model, texts):.1%}"
        print(f"| {name} | {speed[name]:.0f} | {speed[name] / speed[baseline]:.2f} | {same:.1%} | {change} | {rechecked_share} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
