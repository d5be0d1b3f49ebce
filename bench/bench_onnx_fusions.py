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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DEV = ROOT.parent / "shared" / "data" / "realnews_dev.jsonl"


def fuse_and_quantise(model_dir: Path, scratch: Path) -> dict[str, Path]:
    """The fused fp32 graph, its int8 copy, and an int8 copy with the FFN-output MatMuls kept fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    scratch.mkdir(parents=True, exist_ok=True)
    fused = scratch / "fused.onnx"
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    optimised = optimizer.optimize_model(str(model_dir / "model.onnx"), model_type="bert",
                                         num_heads=config["num_attention_heads"], hidden_size=config["hidden_size"],
                                         optimization_options=FusionOptions("bert"), opt_level=0)
    print("fused operators:", {k: v for k, v in optimised.get_fused_operator_statistics().items() if v})
    optimised.save_model_to_file(str(fused))
    graph = onnx.load(str(fused)).graph
    producer = {output: node for node in graph.node for output in node.output}
    ffn_outputs = [node.name for node in graph.node if node.op_type == "MatMul" and node.input[0] in producer
                   and producer[node.input[0]].op_type in ("BiasGelu", "FastGelu", "Gelu")]
    files = {"fused fp32": fused, "fused, then int8": scratch / "fused.int8.onnx",
             "fused, then int8, FFN outputs fp32": scratch / "fused.int8.ffn_fp32.onnx"}
    for name, exclude in (("fused, then int8", []), ("fused, then int8, FFN outputs fp32", ffn_outputs)):
        # The fused graph's contrib ops defeat shape inference: tell the quantiser the weights are fp32.
        quantize_dynamic(fused, files[name], weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=exclude,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return files


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
    from model.encoding import SentenceEncoder

    texts = [json.loads(line)["text"] for line in args.dev.open(encoding="utf-8") if line.strip()]
    fused = fuse_and_quantise(args.model_dir, args.scratch)
    reference = StanceClassifier.from_pretrained(args.model_dir, backend="torch", threads=args.threads)
    labels, encoder = reference.labels, SentenceEncoder.from_file(args.model_dir, reference.max_length)

    def classifier(backend) -> StanceClassifier:
        return StanceClassifier(backend, encoder, max_length=reference.max_length, batch_size=64)

    model_dir, threads = args.model_dir, args.threads
    ours = {"StanceClassifier, torch": reference,
            "ONNX fp32": classifier(OnnxBackend(model_dir / "model.onnx", labels, threads=threads)),
            "ONNX int8": classifier(OnnxBackend(model_dir / "model.int8.onnx", labels, threads=threads)),
            "ONNX int8 + fp32 recheck (auto)": classifier(RecheckedInt8Backend(
                model_dir / "model.int8.onnx", model_dir / "model.onnx", labels, threads=threads))}
    ours |= {name: classifier(OnnxBackend(path, labels, threads=threads)) for name, path in fused.items()}
    ours["fused int8 + fused fp32 recheck"] = classifier(RecheckedInt8Backend(
        fused["fused, then int8"], fused["fused fp32"], labels, threads=threads))
    torch.set_num_threads(threads)
    classify = pipeline("text-classification", model=str(model_dir), device="cpu")
    runners = {"transformers.pipeline": lambda batch: [out["label"] for out in classify(list(batch), batch_size=64)]}
    for name, model in ours.items():
        runners[name] = (lambda model: lambda batch: [model.labels[i] for i in model.predict_logits(batch).argmax(1)])(model)

    for run in runners.values():
        run(texts[:64])
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, run in runners.items():
            started = time.perf_counter()
            run(texts)
            seconds[name].append(time.perf_counter() - started)
    speed = {name: len(texts) / statistics.median(times) for name, times in seconds.items()}
    torch_labels = runners["StanceClassifier, torch"](texts)
    fp32_logits = ours["ONNX fp32"].predict_logits(texts)
    print(f"{len(texts)} sentences, {args.threads} thread(s), median of {args.repeats}; "
          f"load average {tuple(round(x, 1) for x in os.getloadavg())}\n")
    print("| backend | sentences/s | x pipeline | same label as torch | largest logit change vs ONNX fp32 |")
    print("|---|---:|---:|---:|---:|")
    for name, run in runners.items():
        same = np.mean([a == b for a, b in zip(run(texts), torch_labels)])
        change = f"{np.abs(ours[name].predict_logits(texts) - fp32_logits).max():.3f}" if name in ours else ""
        print(f"| {name} | {speed[name]:.0f} | {speed[name] / speed['transformers.pipeline']:.2f} | {same:.1%} | {change} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
