"""What one forward pass costs besides its tokens, and what cutting passes by it gains.

    python bench/bench_pass_cost.py MODEL_DIR [--articles FILE] [--backend onnx] [--precision auto]

1. Times the backend on real sentences cut to 16-64 tokens in passes of 1-64 rows and fits
   seconds = fixed + per_token * rows * width; prints fixed / per_token, the pass cost in tokens
   that model/pass_plan.py's PASS_COST_TOKENS stands for.
2. Times `predict_proba` with passes cut by that plan against fixed passes of `--pass-size`
   (the previous behaviour), on all the sentences at once (in-process batch) and on groups of
   four articles (what the server's batcher sees at 8 clients), alternating the two so a
   drifting load hits both alike. Prints ratios and padded token counts, with the CPU's flags.

Not a test: a minute or two on two cores.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_http import DEFAULT_ARTICLES, load_articles  # noqa: E402

FIXED = 1e9  # a pass cost so large that the plan degenerates into the fewest, fullest passes


def fit_pass_cost(classifier, sentences: list[str], reps: int) -> tuple[float, float]:
    """(fixed seconds per pass, seconds per padded token), by least squares over real inputs."""
    import numpy as np

    encoded = classifier.encoder.encode(sentences)
    long_rows = np.flatnonzero(encoded.lengths >= 64)
    rows_x_width, seconds = [], []
    for width in (16, 32, 48, 64):
        for rows in (1, 4, 16, 64):
            chosen = long_rows[:rows]
            batch = encoded.batch(chosen)
            batch = {name: np.ascontiguousarray(value[:, :width]) for name, value in batch.items()}
            classifier.backend.logits(batch)  # warm-up for this shape
            times = []
            for _ in range(reps):
                started = time.perf_counter()
                classifier.backend.logits(batch)
                times.append(time.perf_counter() - started)
            rows_x_width.append(len(chosen) * width)
            seconds.append(statistics.median(times))
    design = np.column_stack([np.ones(len(seconds)), rows_x_width])
    (fixed, per_token), *_ = np.linalg.lstsq(design, np.asarray(seconds), rcond=None)
    return float(fixed), float(per_token)


def padded_tokens(classifier, sentences: list[str], cost: float) -> int:
    import numpy as np

    from model.pass_plan import plan_passes

    lengths = np.sort(classifier.encoder.encode(sentences).lengths)
    return sum(int(lengths[end - 1]) * (end - first) for first, end in plan_passes(lengths, classifier.batch_size, cost))


def timed(classifier, groups: list[list[str]], cost: float) -> float:
    classifier.pass_cost_tokens = cost
    started = time.perf_counter()
    for group in groups:
        classifier.predict_proba(group)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--articles", type=Path, default=DEFAULT_ARTICLES)
    parser.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"])
    parser.add_argument("--precision", default="auto", choices=["auto", "int8", "fp32"])
    parser.add_argument("--pass-size", type=int, default=16, help="the most rows in a pass (the server's --pass-size)")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)

    from model.classifier import StanceClassifier
    from model.cpu_features import speed_flags_text
    from model.pass_plan import PASS_COST_TOKENS
    from model.sentences import split_sentences

    classifier = StanceClassifier.from_pretrained(args.model_dir, backend=args.backend, precision=args.precision,
                                                  batch_size=args.pass_size)
    texts, source = load_articles(args.articles)
    articles = [[s.text for s in split_sentences(text)] for text in texts]
    every = [s for a in articles for s in a]
    print(f"backend {classifier.backend.name}; {len(every)} sentences of {len(texts)} articles from {source}")
    print(f"CPU flags: {speed_flags_text()}")
    fixed, per_token = fit_pass_cost(classifier, every, args.reps)
    print(f"fit: {fixed * 1000:.2f} ms per pass + {per_token * 1e6:.2f} us per padded token "
          f"-> a pass costs {fixed / per_token:.0f} tokens (PASS_COST_TOKENS is {PASS_COST_TOKENS:.0f})")

    shapes = {"all sentences in one call": [every],
              "calls of 4 articles (the server at 8 clients)": [sum(articles[i:i + 4], []) for i in range(0, len(articles), 4)]}
    print(f"\n| calls | padded tokens, fixed passes of {args.pass_size} -> planned | seconds fixed -> planned (median of {args.reps}) | speed-up |")
    print("|---|---|---|---|")
    for name, groups in shapes.items():
        timed(classifier, groups, PASS_COST_TOKENS)  # warm-up
        fixed_times, planned_times = [], []
        for _ in range(args.reps):
            fixed_times.append(timed(classifier, groups, FIXED))
            planned_times.append(timed(classifier, groups, PASS_COST_TOKENS))
        tokens = [sum(padded_tokens(classifier, g, cost) for g in groups) for cost in (FIXED, PASS_COST_TOKENS)]
        before, after = statistics.median(fixed_times), statistics.median(planned_times)
        print(f"| {name} | {tokens[0]:,} -> {tokens[1]:,} | {before:.2f} -> {after:.2f} | {before / after:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
