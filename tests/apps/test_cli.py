import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
from importlib.metadata import version

import pytest

from apps.cli import build_parser, main
from conftest import ROOT


def test_predict_table_and_jsonl(tiny_model, tmp_path, capsys):
    article = tmp_path / "article.txt"
    article.write_text("Seoul said it had no plans to retaliate.The union threatened a strike if pay talks failed.")
    assert main(["predict", str(tiny_model), str(article), "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["Seoul said it had no plans to retaliate.", "The union threatened a strike if pay talks failed."]
    assert main(["predict", str(tiny_model), str(article)]) == 0
    assert "Seoul said it had no plans to retaliate." in capsys.readouterr().out


def test_evaluate_command(tiny_model, tiny_corpus, tmp_path, capsys):
    assert main(["evaluate", str(tiny_model), str(tiny_corpus), "--out", str(tmp_path / "ev"), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "macro-F1" in out and "expected calibration error" in out and (tmp_path / "ev" / "metrics.json").is_file()


def test_user_errors_exit_2_with_a_message(tmp_path, capsys):
    assert main(["train", str(ROOT / "configs" / "default.yaml"), "epochz=3"]) == 2
    assert "unknown key 'epochz'" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "no-model"), "-"]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"article_id": "a", "sentence_id": 0, "text": "x", "label": "hostile"}\n')
    assert main(["evaluate", str(tmp_path), str(bad)]) == 2
    assert f"{bad}:1: field 'label' is 'hostile'" in capsys.readouterr().err


# ---- one meaning per flag, outputs that say what they are (issue 17)
TWO_SENTENCES = "Seoul said it had no plans to retaliate.The union threatened a strike if pay talks failed."


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_argument_of_every_subcommand_has_help_with_its_default():
    missing = []
    for name, parser in [("stance", build_parser()), *subcommands().items()]:
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            label = f"stance {name if name != 'stance' else ''} {'/'.join(action.option_strings) or action.dest}"
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{label}: no help")
            elif action.option_strings and not isinstance(action, argparse._VersionAction) \
                    and "default" not in action.help and not action.required:
                missing.append(f"{label}: help does not give the default")
        assert parser.format_help()  # renders
    assert missing == []


def test_the_shared_flags_mean_the_same_everywhere():
    helps: dict[str, set[str]] = {}
    for parser in subcommands().values():
        for action in parser._actions:
            for option in action.option_strings:
                helps.setdefault(option, set()).add(action.help)
    for option in ("--backend", "--threads", "--min-confidence", "--verbose"):
        assert len(helps[option]) == 1, f"{option} is explained differently: {helps[option]}"
    assert len(helps["--max-articles"]) >= 1 and all("first N articles" in h or "N articles" in h for h in helps["--max-articles"])
    for name in ("predict", "profile", "evaluate", "suggest", "score"):
        options = {o for a in subcommands()[name]._actions for o in a.option_strings}
        assert {"--backend", "--threads", "--out"} <= options, name
    assert all("--out" not in {o for a in p._actions for o in a.option_strings} or
               any(re.search(r"file|folder", a.help) for a in p._actions if "--out" in a.option_strings)
               for p in subcommands().values())


def test_version(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0 and capsys.readouterr().out.strip() == f"stance {version('stance-news')}"


def test_out_works_for_every_predict_format_and_all_number_sentences_from_1(tiny_model, tmp_path, capsys):
    article = tmp_path / "seoul.txt"
    article.write_text(TWO_SENTENCES)
    written = {}
    for fmt in ("table", "jsonl", "csv", "html"):
        out = tmp_path / "out" / f"labels.{fmt}"
        assert main(["predict", str(tiny_model), str(article), "--format", fmt, "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert f"written to {out}" in printed and "Seoul said" not in printed  # the product is in the file only
        written[fmt] = out.read_text(encoding="utf-8")
    table = written["table"].splitlines()
    assert table[0].split() == ["#", "label", "p", "runner-up", "p", "sentence"]
    assert [line.split()[0] for line in table[1:]] == ["1", "2"] and "Seoul said" in table[1]
    jsonl = [json.loads(line) for line in written["jsonl"].splitlines()]
    assert [(r["article_id"], r["sentence_id"]) for r in jsonl] == [("seoul", 1), ("seoul", 2)]
    for row in jsonl:  # (the tiny model's probabilities nearly tie, so compare values, not names)
        ranked = sorted(row["probabilities"].values(), reverse=True)
        assert row["runner_up"] != row["label"] and row["probability"] == pytest.approx(ranked[0], abs=1e-4)
        assert row["runner_up_probability"] == pytest.approx(ranked[1], abs=1e-4) == row["probabilities"][row["runner_up"]]
    rows = list(csv.DictReader(io.StringIO(written["csv"])))
    assert [(r["article_id"], r["sentence_id"], r["label"]) for r in rows] == [("seoul", str(j["sentence_id"]), j["label"]) for j in jsonl]
    assert re.findall(r'<span class="num" aria-hidden="true">(\d+)</span><span class="sentence[^"]*" id="s(\d+)"', written["html"]) \
        == [("1", "1"), ("2", "2")]
    assert main(["predict", str(tiny_model), str(article), "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    # standard output stays the default
    assert main(["predict", str(tiny_model), str(article), "--format", "csv"]) == 0
    assert capsys.readouterr().out == written["csv"]


def test_predict_says_it_is_waiting_for_a_terminal(tmp_path, capsys, monkeypatch):
    leader, follower = os.openpty()
    try:
        with open(follower, "rb", buffering=0, closefd=False) as terminal:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(terminal))
            assert main(["predict", str(tmp_path / "no-model")]) == 2  # stops at the model, after the hint
    finally:
        os.close(leader)
        os.close(follower)
    err = capsys.readouterr().err
    assert "reading the article from the terminal; end it with Ctrl-D" in err and "does not exist" in err


def run_stance(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    return subprocess.run([sys.executable, "-m", "apps.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=600)


def test_library_progress_bars_only_with_verbose(tiny_model, tmp_path):
    article = tmp_path / "a.txt"
    article.write_text(TWO_SENTENCES)
    quiet = run_stance("predict", str(tiny_model), str(article), "--backend", "torch")
    assert quiet.returncode == 0, quiet.stderr
    assert "Seoul said" in quiet.stdout and "Loading weights" not in quiet.stderr and "%|" not in quiet.stderr
    loud = run_stance("predict", str(tiny_model), str(article), "--backend", "torch", "--verbose")
    assert loud.returncode == 0 and "Loading weights" in loud.stderr
