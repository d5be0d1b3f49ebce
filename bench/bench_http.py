"""HTTP serving benchmark (issue 16): `stance serve` under 1, 8 and 32 concurrent clients sending
whole articles, against in-process `predict_proba` on the same sentences. Prints a Markdown table.

    python bench/bench_http.py MODEL_DIR [--articles ../shared/data/realnews_dev_articles.jsonl]
                               [--clients 1 8 32] [--requests 96] [--json results.json]

The server runs in a subprocess on a free loopback port (`stance serve`, the same backend and
threads as the in-process run). The clients run in this process, on the same machine: coroutines
on one asyncio event loop (httpx.AsyncClient), each with its own keep-alive connection, sending
the articles in turn, `--requests` requests per concurrency level in all. Throughput is sentences
answered per second of wall time; latency is per request. Each level is compared with one
in-process `predict_proba` call (this process, same backend and threads) on exactly the
sentences its requests carried, split beforehand: the batch throughput, timed right before and
right after the level (mean of the two), so that both see the same load on a shared machine; and
with the splitting of the articles included (what /predict does besides the model), as a second ratio.

Not a test: it takes a few minutes on two cores.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_ARTICLES = ROOT.parent / "shared" / "data" / "realnews_dev_articles.jsonl"
CORPUS = ROOT / "data" / "corpus"


def load_articles(path: Path | None) -> tuple[list[str], str]:
    """Article texts and where they came from: a JSONL of articles, else the team's corpus
    with each article's sentences joined into paragraphs."""
    if path is not None and path.is_file():
        from model.articles import load_articles as read_articles

        return [a.text for a in read_articles(path)], str(path)
    articles: dict[str, list[str]] = {}
    for file in sorted(CORPUS.glob("*.jsonl")):
        for line in file.open(encoding="utf-8"):
            record = json.loads(line)
            articles.setdefault(record["article_id"], []).append(record["text"])
    return ["\n\n".join(sentences) for sentences in list(articles.values())[:60]], f"{CORPUS} (first 60 articles)"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def in_process_rate(classifier, sentences: list[str]) -> float:
    """Sentences/s of one predict_proba call on all `sentences` (the batch throughput)."""
    started = time.perf_counter()
    classifier.predict_proba(sentences)
    return len(sentences) / (time.perf_counter() - started)


def in_process_split_rate(classifier, texts: list[str]) -> float:
    """Sentences/s of splitting `texts` (whole articles) and one predict_proba call on all their
    sentences: the in-process batch doing everything a /predict request asks of the server."""
    from model.sentences import split_sentences

    started = time.perf_counter()
    sentences = [s.text for text in texts for s in split_sentences(text)]
    classifier.predict_proba(sentences)
    return len(sentences) / (time.perf_counter() - started)


def split_rate(articles: list[str]) -> float:
    """Sentences/s of split_sentences alone: work the server does per request that a
    predict_proba on ready-split sentences does not."""
    from model.sentences import split_sentences

    started = time.perf_counter()
    count = sum(len(split_sentences(text)) for text in articles)
    return count / (time.perf_counter() - started)


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) a process and its child processes (the
    server's workers) have used so far; None off Linux."""
    def own(stat: str) -> tuple[int, float]:
        fields = stat.rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    try:
        _, total = own(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return None
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent, seconds = own(stat_file.read_text())
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            total += seconds
    return total


def in_process_cpu_per_sentence(classifier, sentences: list[str]) -> float:
    """CPU milliseconds per sentence of one predict_proba call in this process (the server idle)."""
    started = time.process_time()
    classifier.predict_proba(sentences)
    return 1000 * (time.process_time() - started) / len(sentences)


def http_run(url: str, articles: list[str], clients: int, requests: int, server_pid: int | None = None,
             workers: int = 1) -> dict:
    """`requests` POST /predict from `clients` concurrent clients; sentences/s, latency
    percentiles, model calls.

    The clients are coroutines on one event loop in this process, each with its own keep-alive
    connection (one httpx.AsyncClient with a pool of `clients` connections), taking the next
    request when their answer is in: the server's load is `clients` requests in flight, for
    less CPU on the server's cores than a thread per client would take.
    """
    import httpx

    async def send_all() -> list[tuple[float, int]]:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
            pending = iter(range(requests))
            results: list[tuple[float, int]] = []

            async def one_client() -> None:
                for i in pending:
                    started = time.perf_counter()
                    response = await client.post("predict", json={"text": articles[i % len(articles)]})
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise SystemExit(f"request {i} got {response.status_code}: {response.text[:500]}")
                    results.append((elapsed, len(response.json()["sentences"])))

            await asyncio.gather(*(one_client() for _ in range(clients)))
            return results

    before = httpx.get(url + "health").json()["batching"]
    server_cpu = process_cpu_seconds(server_pid) if server_pid else None
    started, client_cpu = time.perf_counter(), time.process_time()
    results = asyncio.run(send_all())
    wall, client_cpu = time.perf_counter() - started, time.process_time() - client_cpu
    if server_cpu is not None:
        server_cpu = process_cpu_seconds(server_pid) - server_cpu
    after = httpx.get(url + "health").json()["batching"]
    latencies = [latency for latency, _ in results]
    sentences = sum(n for _, n in results)
    # With several workers /health answers from one of them: its counters are not the server's.
    calls = after["model_calls"] - before["model_calls"] if workers == 1 else None
    return {"clients": clients, "requests": requests, "sentences": sentences, "seconds": round(wall, 2),
            "sentences_per_s": round(sentences / wall, 1), "p50_latency_s": round(percentile(latencies, 0.5), 3),
            "p95_latency_s": round(percentile(latencies, 0.95), 3), "model_calls": calls,
            "sentences_per_call": None if calls is None else round(sentences / max(calls, 1), 1),
            # Where the cores went: the clients share the machine with the server here.
            "client_cpu_s": round(client_cpu, 2), "server_cpu_s": None if server_cpu is None else round(server_cpu, 2),
            "server_cpu_ms_per_sentence": None if server_cpu is None else round(1000 * server_cpu / sentences, 2)}


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--articles", type=Path, default=DEFAULT_ARTICLES,
                        help=f"JSONL of articles (article_id, text); default {DEFAULT_ARTICLES}, else the team's corpus")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrency levels (default 1 8 32)")
    parser.add_argument("--requests", type=int, default=96, help="requests per concurrency level (default 96)")
    parser.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto")
    parser.add_argument("--threads", type=int, help="inference threads, here and in the server (default: physical cores)")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--pass-size", type=int, help="the server's --pass-size (default: the server's default)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--concurrent-calls", type=int,
                        help="the server's --concurrent-calls (default: the server's, one per core)")
    parser.add_argument("--workers", type=int, default=1,
                        help="the server's --workers (default 1); with more, model calls per worker are not counted")
    parser.add_argument("--json", type=Path, help="also write the results here (JSON)")
    args = parser.parse_args(argv)
    if not (args.model_dir / "config.json").is_file():
        parser.error(f"{args.model_dir} is not a model directory (no config.json)")
    if not 1 <= args.requests <= 10_000 or not all(1 <= c <= 256 for c in args.clients):
        parser.error("--requests must be in 1..10000 and --clients in 1..256")

    from apps.server.local import ServerProcess
    from model.cpu_features import speed_flags_text
    from model import StanceClassifier
    from model.sentences import split_sentences

    articles, source = load_articles(args.articles)
    sentences = [s.text for text in articles for s in split_sentences(text)]
    server_args = ["--backend", args.backend, "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)]
    if args.threads:
        server_args += ["--threads", str(args.threads)]
    if args.pass_size:
        server_args += ["--pass-size", str(args.pass_size)]
    if args.workers > 1:
        server_args += ["--workers", str(args.workers)]
    if args.concurrent_calls:
        server_args += ["--concurrent-calls", str(args.concurrent_calls)]
    classifier = StanceClassifier.from_pretrained(args.model_dir, backend=args.backend, threads=args.threads)
    classifier.predict_proba(sentences[:64])  # warm-up
    runs = []
    with ServerProcess(args.model_dir, server_args, start_timeout_s=300) as server:
        import httpx

        health = httpx.get(server.url + "health").json()
        http_run(server.url, articles, max(args.clients), min(args.requests, 2 * max(args.clients)))  # warm-up
        for clients in args.clients:
            # The same sentences in-process right before and after, never beside the server's
            # work: on a shared machine the load drifts, and the ratio should see the same load.
            texts = [articles[i % len(articles)] for i in range(args.requests)]
            requested = [s.text for text in texts for s in split_sentences(text)]
            before = in_process_rate(classifier, requested), in_process_split_rate(classifier, texts)
            cpu_per_sentence = in_process_cpu_per_sentence(classifier, requested)
            run = http_run(server.url, articles, clients, args.requests, server.process.pid, args.workers)
            after = in_process_rate(classifier, requested), in_process_split_rate(classifier, texts)
            run["in_process_sentences_per_s"] = round(statistics.mean([before[0], after[0]]), 1)
            run["ratio_to_in_process"] = round(run["sentences_per_s"] / run["in_process_sentences_per_s"], 2)
            run["in_process_cpu_ms_per_sentence"] = round(cpu_per_sentence, 2)
            run["in_process_with_splitting_sentences_per_s"] = round(statistics.mean([before[1], after[1]]), 1)
            run["ratio_to_in_process_with_splitting"] = round(
                run["sentences_per_s"] / run["in_process_with_splitting_sentences_per_s"], 2)
            runs.append(run)
    splitting = split_rate(articles)

    result = {"model": str(args.model_dir), "backend": health["backend"], "weights": health["weights"],
              "articles": len(articles), "article_source": source, "sentences_in_articles": len(sentences),
              "split_sentences_per_s": round(splitting, 1), "max_batch": args.max_batch,
              "pass_size": health["batching"]["pass_size"], "in_process_batch_size": classifier.batch_size,
              "max_wait_ms": args.max_wait_ms, "workers": args.workers,
              "concurrent_calls": health["batching"]["concurrent_calls"],
              "threads": args.threads, "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} "
                                                  f"logical CPUs, flags: {speed_flags_text()}",
              "versions": {name: _version(name) for name in ("torch", "onnxruntime", "numpy", "fastapi", "uvicorn")},
              "clients": "coroutines on one asyncio event loop (httpx.AsyncClient, a keep-alive connection each), "
                         "in the benchmark process on the same machine as the server",
              "load_average_at_end": [round(x, 1) for x in os.getloadavg()], "http": runs}
    print(f"{result['machine']}; model {args.model_dir.name} ({health['backend']}: {', '.join(health['weights'])}); "
          f"{len(articles)} articles, {len(sentences)} sentences, from {source}\n")
    print(f"split_sentences alone: {splitting:.0f} sentences/s (the server splits each article; predict_proba does not)\n")
    print("| clients | requests | sentences/s | in-process predict_proba, same sentences | x in-process | "
          "in-process split + predict_proba | x that | p50 latency (s) | p95 latency (s) | sentences per model call |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        print(f"| {run['clients']} | {run['requests']} | {run['sentences_per_s']:.0f} | {run['in_process_sentences_per_s']:.0f} | "
              f"{run['ratio_to_in_process']:.2f} | {run['in_process_with_splitting_sentences_per_s']:.0f} | "
              f"{run['ratio_to_in_process_with_splitting']:.2f} | {run['p50_latency_s']:.2f} | {run['p95_latency_s']:.2f} | "
              f"{run['sentences_per_call'] if run['sentences_per_call'] is not None else 'n/a'} |")
    print(f"\nWhere the {os.cpu_count()} logical CPUs went during each level (CPU seconds; the clients run on this machine):\n")
    print("| clients | wall (s) | client CPU (s) | server CPU (s) | server CPU ms/sentence | in-process CPU ms/sentence |")
    print("|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        print(f"| {run['clients']} | {run['seconds']:.1f} | {run['client_cpu_s']:.1f} | {run['server_cpu_s'] or 'n/a'} | "
              f"{run['server_cpu_ms_per_sentence'] or 'n/a'} | {run['in_process_cpu_ms_per_sentence']:.2f} |")
    if args.json:
        from model.atomic_files import write_text_atomic

        write_text_atomic(args.json, json.dumps(result, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
