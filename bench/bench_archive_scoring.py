"""Archive scoring throughput (issue 7): the local scorer, then Ray with 1, 2, ... actors, on one
corpus and model in one run. Prints a Markdown table for docs/SCALING.md.

    python bench/bench_archive_scoring.py MODEL_DIR [--articles ../shared/data/realnews_dev_articles.jsonl]
        [--repeat 5] [--workers 1 2]

The corpus is the articles file repeated `--repeat` times under new ids, written to a temporary
folder (never into the repository: the real-news text is third-party). Each engine scores it
into its own temporary output. "wall" divides by the whole run (model load and Ray start
included); "steady" counts from the first scored article on, the rate a long job approaches.
Not a test: it takes a few minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARTICLES = ROOT.parent / "shared" / "data" / "realnews_dev_articles.jsonl"


def repeated_corpus(articles: Path, repeat: int, out: Path) -> int:
    """Write the articles `repeat` times with ids suffixed -r<k>; returns the article count."""
    lines = [json.loads(line) for line in articles.read_text(encoding="utf-8").splitlines() if line.strip()]
    with out.open("w", encoding="utf-8") as handle:
        for k in range(repeat):
            for record in lines:
                handle.write(json.dumps({**record, "article_id": f"{record['article_id']}-r{k}"}, ensure_ascii=False) + "\n")
    return len(lines) * repeat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path, help="trained model directory (with model.int8.onnx for the fast path)")
    parser.add_argument("--articles", type=Path, default=DEFAULT_ARTICLES, help=f"articles JSONL (default {DEFAULT_ARTICLES})")
    parser.add_argument("--repeat", type=int, default=5, help="times the articles are repeated")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="Ray actor counts to run")
    parser.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"])
    args = parser.parse_args(argv)

    from apps.scoring.archive_scoring import score_archive

    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        n_articles = repeated_corpus(args.articles, args.repeat, corpus)
        runs = [("local", None, None), ("local", None, 1)] + [("ray", n, None) for n in args.workers]
        rows = []
        for engine, workers, threads in runs:
            summary = score_archive(args.model_dir, corpus, Path(tmp) / f"{engine}-{workers}-{threads}.parquet",
                                    engine=engine, workers=workers, backend=args.backend, threads=threads, progress=False)
            label = (f"local scorer, {f'{threads} thread' if threads else 'one thread per core'}" if engine == "local"
                     else f"Ray, {workers} actor{'s' if workers > 1 else ''} (1 thread each)")
            per_worker = summary.steady_sentences_per_s / (workers or 1)
            rows.append(f"| {label} | {summary.sentences} | {summary.seconds:.1f} | {summary.sentences_per_s:.0f} | "
                        f"{summary.steady_sentences_per_s:.0f} | {per_worker:.0f} |")
            print(rows[-1], flush=True)
    print(f"\n{n_articles} articles; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"model {args.model_dir}, backend {args.backend}\n")
    print("| engine | sentences | wall (s) | sentences/s (wall) | sentences/s (steady) | per worker (steady) |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
