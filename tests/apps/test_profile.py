"""Article profiles: counts, shares, mix, the escalation score, article files, the CLI, CSV and plot."""
import csv
import json

import pytest

from apps.cli import main
from apps.views.profile import escalation_score, profile_predictions
from model.classifier import SentencePrediction


def prediction(label: str, probabilities: dict[str, float]) -> SentencePrediction:
    full = {"neutral": 0.0, "conciliatory": 0.0, "dismissive": 0.0, "threatening": 0.0, **probabilities}
    return SentencePrediction("x", 0, 1, label, full)


def test_profile_by_hand():
    profile = profile_predictions([
        prediction("threatening", {"threatening": 0.8, "neutral": 0.2}),
        prediction("dismissive", {"dismissive": 0.6, "neutral": 0.4}),
        prediction("neutral", {"neutral": 1.0}),
        prediction("conciliatory", {"conciliatory": 0.9, "threatening": 0.1}),
    ], "a1", "2020-01-02")
    assert profile.sentences == 4 and profile.counts == {"neutral": 1, "conciliatory": 1, "dismissive": 1, "threatening": 1}
    assert profile.shares["neutral"] == 0.25
    assert profile.mix["threatening"] == pytest.approx(0.9 / 4) and sum(profile.mix.values()) == pytest.approx(1.0)
    # escalation = T + 0.5 D - C = 0.225 + 0.5 * 0.15 - 0.225
    assert profile.escalation == pytest.approx(0.075)
    row = profile.to_row()
    assert row["article_id"] == "a1" and row["count_threatening"] == 1 and row["escalation"] == pytest.approx(0.075)


def test_escalation_spans_minus_one_to_one():
    assert escalation_score({"threatening": 1.0}) == 1.0
    assert escalation_score({"conciliatory": 1.0}) == -1.0
    assert escalation_score({"neutral": 1.0}) == 0.0
    assert profile_predictions([]).escalation == 0.0


def test_profile_command_writes_csv_and_plot(tiny_model, tmp_path, capsys):
    articles = tmp_path / "articles.jsonl"
    rows = [{"article_id": "early", "date": "2019-01-05", "text": "Moscow threatened to cut gas supplies. Kyiv rejected the demand."},
            {"article_id": "late", "date": "12-FEB-2019", "text": "Both sides agreed to resume talks. The meeting is on Monday."},
            {"article_id": "season", "date": "2004/2005", "text": "The minister welcomed the offer."}]
    articles.write_text("".join(json.dumps(r) + "\n" for r in rows))
    memo = tmp_path / "memo.txt"
    memo.write_text("The union warned of a strike.\nManagement dismissed the threat.")
    out_csv, out_png = tmp_path / "out" / "profile.csv", tmp_path / "out" / "escalation.png"
    assert main(["profile", str(tiny_model), str(articles), str(memo), "--csv", str(out_csv), "--plot", str(out_png)]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in ("early", "late", "season", "memo"))
    assert "plot of 2 articles" in printed and "left out: season, memo" in printed
    table = list(csv.DictReader(out_csv.open()))
    assert [r["article_id"] for r in table] == ["early", "late", "season", "memo"]
    assert table[0]["sentences"] == "2" and -1 <= float(table[0]["escalation"]) <= 1
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 10_000
    assert main(["profile", str(tiny_model), str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl: no such file" in capsys.readouterr().err


def test_profile_out_min_confidence_and_max_articles(tiny_model, tmp_path, capsys):
    articles = tmp_path / "articles.jsonl"
    rows = [{"article_id": f"a{i}", "text": "Moscow threatened to cut gas supplies. Kyiv rejected the demand."} for i in range(3)]
    articles.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "profile.csv"
    assert main(["profile", str(tiny_model), str(articles), "--out", str(out), "--min-confidence", "1",
                 "--max-articles", "2"]) == 0
    table = list(csv.DictReader(out.open()))
    assert [r["article_id"] for r in table] == ["a0", "a1"]
    assert all(r["count_neutral"] == r["sentences"] == "2" for r in table)  # every sentence below 1.0 abstains
