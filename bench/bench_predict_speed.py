"""Quick prediction speed of one model on each of our backends: sentences per second over a
slice of a labelled JSONL file, median of a few runs, with the CPU time alongside.

    python bench/bench_predict_speed.py MODEL_DIR [--dev FILE] [--sentences 256] [--repeats 3]

For large models (mpnet predicts ~10x slower than MiniLM), where bench_inference.py's 5,000
sentences x 5 runs x 4 backends would take hours on two cores. On a shared machine the wall
rate depends on the neighbours; CPU time per sentence much less so. Not a test.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from bench_inference import DEFAULT_DEV, OUR_BACKENDS, load_dev

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV, help=f"JSONL with a 'text' per line (default {DEFAULT_DEV})")
    parser.add_argument("--sentences", type=int, default=256, help="how many sentences of the file to time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=128, help="truncation, as in the config the model was trained with")
    parser.add_argument("--backends", nargs="+", choices=list(OUR_BACKENDS), default=list(OUR_BACKENDS),
                        help="which of our backends to time (those whose files exist)")
    args = parser.parse_args(argv)
    if not args.dev.is_file():
        parser.error(f"{args.dev} does not exist; pass --dev FILE")

    import torch

    from model import StanceClassifier

    texts = load_dev(args.dev).texts[:args.sentences]
    backends = [name for name in args.backends if name == "torch" or (args.model_dir / ("model.int8.onnx" if "int8" in name else "model.onnx")).is_file()]
    print(f"{args.model_dir}: {len(texts)} sentences, median of {args.repeats} runs, {torch.get_num_threads()} torch threads")
    for name in backends:
        classifier = StanceClassifier.from_pretrained(args.model_dir, max_length=args.max_length, **OUR_BACKENDS[name])
        classifier.predict_proba(texts[:16])  # warm-up
        wall, cpu = [], []
        for _ in range(args.repeats):
            started, cpu_started = time.perf_counter(), time.process_time()
            classifier.predict_proba(texts)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        print(f"| {name} | {len(texts) / statistics.median(wall):.1f} sentences/s | "
              f"{statistics.median(cpu) / len(texts) * 1000:.0f} ms CPU per sentence |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
