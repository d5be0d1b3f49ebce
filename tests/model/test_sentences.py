import json

from model.sentences import split_sentences


def texts(article: str) -> list[str]:
    return [s.text for s in split_sentences(article)]


def test_spans_point_back_into_the_input():
    article = "TRADE ROW DEEPENS\nOfficials met on\nMonday. They\nagreed to talk again."
    for s in split_sentences(article):
        assert " ".join(article[s.start:s.end].split()) == s.text


def test_abbreviations_and_names_do_not_split():
    article = ("The U.S. Commerce Department and Lockheed Martin Corp F-35 officials met Mr. Demir on Monday. "
               "The U.S. Had said nothing, Gen. Ozturk added.")
    assert texts(article) == [
        "The U.S. Commerce Department and Lockheed Martin Corp F-35 officials met Mr. Demir on Monday.",
        "The U.S. Had said nothing, Gen. Ozturk added.",
    ]


def test_glued_sentences_and_subheadings_split():
    article = ("Ankara bought the missile systems.Washington warned of sanctions.“We are ready,” he said."
               "“However, nothing moved.”PIPELINE TALKSWhile the sides met, prices rose.")
    assert texts(article) == [
        "Ankara bought the missile systems.",
        "Washington warned of sanctions.",
        "“We are ready,” he said.",
        "“However, nothing moved.”",
        "PIPELINE TALKS",
        "While the sides met, prices rose.",
    ]


def test_wire_copy_headline_wrapping_quotes_and_sign_off():
    article = ("JAPAN SAYS READY FOR MORE CHIP TALKS\nJapan said it was ready\nto resume talks.\n"
               "    \"We want a deal. It will help both sides,\" the minister\nsaid.\n REUTER\n")
    assert texts(article) == [
        "JAPAN SAYS READY FOR MORE CHIP TALKS",
        "Japan said it was ready to resume talks.",
        "\"We want a deal.",
        "It will help both sides,\" the minister said.",
    ]


def test_scraped_boilerplate_is_stripped():
    article = "date 2020-01-02 Home › World › Envoy recalled over spy row\n\n(Agency | Site )- The envoy left on Friday."
    assert texts(article) == ["Envoy recalled over spy row", "The envoy left on Friday."]


def test_seed_article_matches_reference_sentences(seed_article, shared_data):
    reference = [json.loads(line)["text"] for line in (shared_data / "realnews_dev.jsonl").open(encoding="utf-8")
                 if json.loads(line)["article_id"] == "seed-s400"]
    predicted = {" ".join(t.split()) for t in texts(seed_article)}
    exact = sum(" ".join(r.split()) in predicted for r in reference)
    assert len(reference) == 17
    assert exact >= 15, f"only {exact} of 17 seed sentences split exactly"


def test_boundaries_on_the_dev_articles(shared_data):
    from eval.splitting import score_splitting_files

    score = score_splitting_files(shared_data / "realnews_dev_articles.jsonl", shared_data / "realnews_dev.jsonl")
    assert score.articles == 36
    assert score.boundary_precision >= 0.95 and score.boundary_recall >= 0.95
