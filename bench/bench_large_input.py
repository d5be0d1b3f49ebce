"""How sentence splitting and prediction scale with article size (issue 5): time and peak memory
on articles built from the team's corpus, in three shapes that stress the splitter differently.

    python bench/bench_large_input.py [--size 1000000] [--model runs/default]

Shapes: `paragraphs` (a blank line every 8 sentences, like real copy), `one block` (no paragraph
breaks at all, as scraped pages arrive) and `no punctuation` (one run-on "sentence"). Each shape
runs in a fresh subprocess so that its peak resident memory is its own. Not a test.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ("paragraphs", "one block", "no punctuation")


def build_article(shape: str, size: int) -> str:
    """`size` characters of corpus sentences in the given shape."""
    texts = [json.loads(line)["text"] for file in sorted((ROOT / "data" / "corpus").glob("*.jsonl"))
             for line in file.open(encoding="utf-8")]
    if shape == "paragraphs":
        text = "\n\n".join(" ".join(texts[i:i + 8]) for i in range(0, len(texts), 8))
    elif shape == "one block":
        text = " ".join(texts)
    else:
        text = " ".join(t.rstrip(".!?") for t in texts).replace(".", "")
    return (text * (size // len(text) + 1))[:size]


def measure(shape: str, size: int, model_dir: str | None) -> dict:
    """Run in the child process: split (and predict) one article, report seconds and peak RSS."""
    sys.path.insert(0, str(ROOT))
    from model.sentences import split_sentences

    article = build_article(shape, size)
    classifier = None
    if model_dir:
        from model import StanceClassifier

        classifier = StanceClassifier.from_pretrained(model_dir)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    sentences = split_sentences(article)
    split_s = time.perf_counter() - started
    predict_s = None
    if classifier is not None:
        started = time.perf_counter()
        predictions = classifier.predict(article)
        predict_s = time.perf_counter() - started
        assert len(predictions) == len(sentences)
    return {"shape": shape, "chars": len(article), "sentences": len(sentences), "split_s": round(split_s, 1),
            "predict_s": None if predict_s is None else round(predict_s, 1),
            "rss_before_mb": round(rss_before), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="article size in characters")
    parser.add_argument("--model", help="also time predict() with this model directory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.size, args.model)))
        return
    print("| shape | characters | sentences | split (s) | predict, split included (s) | peak RSS before -> after (MB) |")
    print("|---|---:|---:|---:|---:|---|")
    for shape in SHAPES:
        command = [sys.executable, __file__, "--child", shape, "--size", str(args.size)] + (["--model", args.model] if args.model else [])
        r = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        predict = "-" if r["predict_s"] is None else r["predict_s"]
        print(f"| {shape} | {r['chars']:,} | {r['sentences']:,} | {r['split_s']} | {predict} | {r['rss_before_mb']} -> {r['peak_rss_mb']} |")


if __name__ == "__main__":
    main()
