"""Training speed of a config on this machine: seconds per optimiser step on real batches of
its corpus, and the full run's length estimated from them. For choosing where a long run goes
(the accurate tier on 2 CPU cores, say) without starting it.

    python bench/bench_train_step.py configs/accurate.yaml [key=value ...] [--steps 5]
    python bench/bench_train_step.py configs/accurate.yaml --precisions fp32 bf16   # bf16 as a ratio to fp32

The batches are the trainer's own (length-grouped, first epoch); one untimed warm-up step
precedes the timed ones. With several --precisions the steps alternate between them (so that a
drifting load on a shared machine hits each alike) and each is printed as a ratio to the first,
with the CPU's flags, since bf16 is fast only where the CPU computes it natively. The estimate leaves out dev/test evaluation, which the prediction
benchmark prices. Not a test: a few minutes for mpnet on two cores.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="YAML config, e.g. configs/accurate.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    parser.add_argument("--steps", type=int, default=5, help="timed optimiser steps (after one warm-up)")
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"],
                        help="time each of these (default: the config's precision, resolved for this machine)")
    args = parser.parse_args(argv)

    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

    from model.base_model import resolve_base_model
    from model.cpu_features import speed_flags_text
    from model.labels import LABELS
    from training.config import load_config, parse_source
    from training.data import load_records, split_by_article, to_dataset
    from training.precision import autocast_for, resolve_precision
    from training.trainer import length_grouped_batches

    config = load_config(args.config, args.overrides)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_records = split_by_article(load_records(parse_source(config.data, "data").path), config.dev_fraction, config.test_fraction, config.seed).train
    base = resolve_base_model(config.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=len(LABELS)).to(device).train()
    dataset = to_dataset(train_records).map(lambda b: tokenizer(b["text"], truncation=True, max_length=config.max_length),
                                            batched=True, remove_columns=["text", "article_id"])
    batches = length_grouped_batches([len(ids) for ids in dataset["input_ids"]], config.batch_size, config.seed, 0)
    collate = DataCollatorWithPadding(tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    precisions = args.precisions or [resolve_precision(config.precision, device)]
    seconds = {p: [] for p in precisions}
    cpu_seconds = {p: [] for p in precisions}
    for i in tqdm(range(args.steps + 1), desc="steps", unit="step"):
        batch = {k: v.to(device) for k, v in collate([dataset[j] for j in batches[i % len(batches)]]).items()}
        for precision in precisions:
            started, cpu_started = time.perf_counter(), time.process_time()
            with autocast_for(precision, device):
                loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:
                seconds[precision].append(time.perf_counter() - started)
                cpu_seconds[precision].append(time.process_time() - cpu_started)
    if len(precisions) > 1:
        first = statistics.median(seconds[precisions[0]])
        print(f"CPU flags: {speed_flags_text()}")
        for precision in precisions:
            median = statistics.median(seconds[precision])
            print(f"{precision}: {median:.2f} s/step (median of {len(seconds[precision])}), "
                  f"{first / median:.2f}x the speed of {precisions[0]}")
    seconds, cpu_seconds = seconds[precisions[-1]], cpu_seconds[precisions[-1]]
    per_step, cpu_per_step = statistics.median(seconds), statistics.median(cpu_seconds)
    total_steps = config.epochs * len(batches)
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    print(f"{config.base_model} on {device.type} ({torch.get_num_threads()} threads, {precisions[-1]}), batch {config.batch_size}, "
          f"max_length {config.max_length}: {per_step:.2f} s/step (median of {len(seconds)}; "
          f"min {min(seconds):.2f}, max {max(seconds):.2f}); {per_step / config.batch_size * 1000:.0f} ms/sentence")
    # On a shared machine wall time depends on the neighbours; CPU time much less (contention still
    # inflates it, so the quiet-machine figure below is an upper bound: compare with a known model).
    print(f"CPU time {cpu_per_step:.2f} s/step; with all {torch.get_num_threads()} threads to itself a step would take "
          f"at most about {cpu_per_step / torch.get_num_threads():.2f} s")
    print(f"full run: {len(train_records)} training sentences, {len(batches)} steps/epoch x {config.epochs} epochs = "
          f"{total_steps} steps ~ {per_step * total_steps / 60:.0f} min of optimiser steps at this wall time, "
          f"at most ~ {cpu_per_step / torch.get_num_threads() * total_steps / 60:.0f} min on a quiet machine (plus evaluation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
