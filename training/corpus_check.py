"""Checks on the training corpus and the contrast set, as code, plus the data card they feed.

A corpus written by many hands drifts: duplicated sentences leak between splits, labels skew,
hard cases thin out. These checks run in the tests, so a bad edit fails CI.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.labels import LABELS
from training.data import Record, load_records, split_by_article

# Each hard case the corpus must teach, with the tags that mark it and the minimum count.
HARD_CASES: dict[str, tuple[tuple[str, ...], int]] = {
    "conditional or veiled threat": (("conditional_threat", "veiled_threat"), 30),
    "enacted coercive step": (("enacted_coercion",), 30),
    "sanctions being weighed": (("sanctions_weighed",), 30),
    "did not rule out": (("not_rule_out",), 30),
    "reassurance": (("reassurance",), 30),
    "denial of an accusation": (("denial",), 30),
    "rejection or reservations": (("rejection", "reservations"), 30),
    "complaint or accusation (neutral)": (("complaint",), 30),
    "observers' speculation": (("observer",), 30),
    "talks as background (neutral)": (("talks_background",), 30),
    "a party offering or agreeing to talk": (("talks_offer",), 30),
    "mixed, with a secondary label": (("mixed",), 30),
    "headline": (("headline",), 30),
}
NEUTRAL_SHARE = (0.45, 0.60)
MIN_OTHER_SHARE = 0.12
NEAR_DUPLICATE_JACCARD = 0.8


@dataclass
class CorpusReport:
    """Counts for the data card and every problem found (empty when the corpus is sound)."""

    records: int
    articles: int
    label_counts: dict[str, int]
    by_domain: dict[str, Counter]
    by_register: dict[str, Counter]
    by_split: dict[str, Counter]
    by_era: dict[str, Counter]
    hard_cases: dict[str, int]
    problems: list[str] = field(default_factory=list)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _shingles(text: str) -> set[str]:
    words = _words(text)
    return {" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))}


def _stable_hash(text: str) -> int:
    """A 32-bit hash that is the same in every run (Python's hash() of a str is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest(), "little")


def near_duplicates(texts: list[str], threshold: float = NEAR_DUPLICATE_JACCARD, seed: int = 0) -> list[tuple[int, int, float]]:
    """Pairs of texts whose word-trigram Jaccard similarity is at least `threshold`.

    MinHash with banded locality-sensitive hashing finds the candidates in near-linear time;
    each candidate is then confirmed with the exact Jaccard similarity.
    """
    shingle_sets = [_shingles(t) for t in texts]
    rng = np.random.default_rng(seed)
    prime = (1 << 61) - 1
    a = rng.integers(1, prime, size=64, dtype=np.int64).astype(object)
    b = rng.integers(0, prime, size=64, dtype=np.int64).astype(object)
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for index, shingles in enumerate(shingle_sets):
        hashes = np.array([_stable_hash(s) for s in shingles], dtype=object)
        signature = [min((ai * hashes + bi) % prime) for ai, bi in zip(a, b)]
        for band in range(16):
            buckets[(band, *signature[band * 4:band * 4 + 4])].append(index)
    candidates = {(i, j) for members in buckets.values() if len(members) > 1
                  for x, i in enumerate(members) for j in members[x + 1:]}
    pairs = []
    for i, j in sorted(candidates):
        union = len(shingle_sets[i] | shingle_sets[j])
        similarity = len(shingle_sets[i] & shingle_sets[j]) / union if union else 1.0
        if similarity >= threshold:
            pairs.append((i, j, similarity))
    return pairs


def check_corpus(corpus: str | Path, contrast: str | Path | None = None, seed: int = 13,
                 dev_fraction: float = 0.1, test_fraction: float = 0.1) -> CorpusReport:
    """Validate the corpus (and contrast set) and count what the data card shows."""
    records = load_records(corpus)  # format and label errors raise here, with file and line
    problems: list[str] = []
    _check_articles(records, problems)
    labels = Counter(r.label for r in records)
    shares = {label: labels[label] / len(records) for label in LABELS}
    if not NEUTRAL_SHARE[0] <= shares["neutral"] <= NEUTRAL_SHARE[1]:
        problems.append(f"neutral share {shares['neutral']:.1%} is outside {NEUTRAL_SHARE[0]:.0%}-{NEUTRAL_SHARE[1]:.0%}")
    for label in LABELS[1:]:
        if shares[label] < MIN_OTHER_SHARE:
            problems.append(f"{label} share {shares[label]:.1%} is below {MIN_OTHER_SHARE:.0%}")
    texts = [r.text for r in records]
    for i, j, similarity in near_duplicates(texts):
        problems.append(f"near-duplicate sentences ({similarity:.2f}): {records[i].location} and {records[j].location}")
    splits = split_by_article(records, dev_fraction, test_fraction, seed)
    # The splitter keeps every article in one split (tests/training/test_data.py checks it); the
    # data card shows how the default split divides the corpus.
    split_of = {article: name for name, articles in splits.article_ids().items() for article in articles}
    tags = Counter(tag for r in records for tag in r.meta.get("tags", []))
    hard_cases = {name: sum(tags[t] for t in names) for name, (names, _) in HARD_CASES.items()}
    for name, (_, minimum) in HARD_CASES.items():
        if hard_cases[name] < minimum:
            problems.append(f"hard case '{name}' appears {hard_cases[name]} times; at least {minimum} wanted")
    if contrast is not None:
        _check_contrast(load_records(contrast), records, problems)

    def tally(key) -> dict[str, Counter]:
        table: dict[str, Counter] = defaultdict(Counter)
        for r in records:
            table[key(r)][r.label] += 1
        return dict(sorted(table.items()))

    return CorpusReport(
        records=len(records), articles=len({r.article_id for r in records}), label_counts=dict(labels),
        by_domain=tally(lambda r: r.meta.get("domain", "?")), by_register=tally(lambda r: r.meta.get("register", "?")),
        by_split=tally(lambda r: split_of[r.article_id]), by_era=tally(lambda r: _decade(r.meta.get("era"))),
        hard_cases=hard_cases, problems=problems)


def _decade(era) -> str:
    try:
        return f"{int(str(era)[:4]) // 10 * 10}s"
    except ValueError:
        return "?"


def _check_articles(records: list[Record], problems: list[str]) -> None:
    """Each article lives in one file, numbered 0..n-1 in order."""
    files_of: dict[str, set[str]] = defaultdict(set)
    ids_of: dict[str, list[int]] = defaultdict(list)
    for r in records:
        files_of[r.article_id].add(r.location.rsplit(":", 1)[0])
        ids_of[r.article_id].append(r.sentence_id)
    for article, files in files_of.items():
        if len(files) > 1:
            problems.append(f"article {article} is spread over {sorted(files)}")
        if ids_of[article] != list(range(len(ids_of[article]))):
            problems.append(f"article {article}: sentence_ids are not 0..{len(ids_of[article]) - 1} in order")


def _check_contrast(pairs: list[Record], corpus: list[Record], problems: list[str]) -> None:
    """Every pair is two sentences with different labels, and none of them is in the corpus."""
    by_pair: dict[str, list[Record]] = defaultdict(list)
    for r in pairs:
        by_pair[r.article_id].append(r)
    for pair, members in by_pair.items():
        if len(members) != 2:
            problems.append(f"contrast pair {pair} has {len(members)} sentences, not 2")
        elif members[0].label == members[1].label:
            problems.append(f"contrast pair {pair}: both sentences are {members[0].label}")
    texts = [r.text for r in corpus] + [r.text for r in pairs]
    for i, j, similarity in near_duplicates(texts):
        if i < len(corpus) <= j:
            problems.append(f"contrast sentence {pairs[j - len(corpus)].location} is in the corpus ({corpus[i].location})")


def render_data_card(report: CorpusReport, corpus: str, contrast_pairs: int | None = None) -> str:
    """data/README.md: what the corpus holds, by label, domain, register, era and split."""
    def table(title: str, rows: dict[str, Counter]) -> list[str]:
        out = [f"### By {title}", "", f"| {title} | sentences | " + " | ".join(LABELS) + " |", "|---|---|" + "---|" * len(LABELS)]
        for key, counts in rows.items():
            out.append(f"| {key} | {sum(counts.values())} | " + " | ".join(str(counts[label]) for label in LABELS) + " |")
        return out + [""]

    total = report.records
    lines = [
        "# Data card: the team's stance corpus",
        "",
        f"`{corpus}` holds {total} sentences in {report.articles} articles, all written by this team for",
        "training (no third-party text). Labels follow [docs/LABELS.md](../docs/LABELS.md). Regenerate this card",
        "with `stance check-data data/corpus --contrast data/contrast.jsonl --card data/README.md`.",
        "",
        "| label | sentences | share |",
        "|---|---|---|",
    ] + [f"| {label} | {report.label_counts.get(label, 0)} | {report.label_counts.get(label, 0) / total:.1%} |" for label in LABELS] + [""]
    lines += table("domain", report.by_domain) + table("register", report.by_register)
    lines += table("era", report.by_era) + table("split", report.by_split)
    lines += ["### Hard cases (tagged sentences)", "", "| hard case | sentences |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in report.hard_cases.items()] + [""]
    if contrast_pairs is not None:
        lines += [f"The contrast set `data/contrast.jsonl` holds {contrast_pairs} minimal pairs (one edit flips the label);",
                  "it is never trained on and is reported as its own evaluation.", ""]
    lines += ["Splits are by article with the default config's seed (13), 10% dev and 10% test.", ""]
    return "\n".join(lines)
