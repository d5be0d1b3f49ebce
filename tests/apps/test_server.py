"""`stance serve`: a real server subprocess on a loopback port, serving the tiny trained model,
checked against the same model's in-process predictions."""
from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import corpus_article_texts
from model import StanceClassifier

httpx = pytest.importorskip("httpx", reason="the server's tests need the serve extra: pip install 'stance-news[serve]'")
pytest.importorskip("fastapi", reason="the server needs the serve extra: pip install 'stance-news[serve]'")

from apps.server.local import ServerProcess  # noqa: E402  (after the extra is known to be installed)

ARTICLES = list(corpus_article_texts(20).values())
# Passes of 5 sentences: answers must not depend on how a model call is cut into passes.
LIMITS = ["--max-wait-ms", "20", "--max-body-bytes", "200000", "--max-sentences", "300", "--pass-size", "5"]


def as_json(predictions) -> list[dict]:
    return [{"text": p.text, "start": p.start, "end": p.end, "label": p.label, "probabilities": p.probabilities,
             "truncated": p.truncated, "abstained": p.abstained} for p in predictions]


def assert_same_predictions(served: list[dict], expected: list[dict]) -> None:
    """Same sentences, spans, labels and flags; probabilities equal up to float rounding (a
    sentence's padding and batch-mates differ between a shared pass and a single article's)."""
    assert [{k: v for k, v in s.items() if k != "probabilities"} for s in served] == \
           [{k: v for k, v in s.items() if k != "probabilities"} for s in expected]
    for s, e in zip(served, expected):
        assert s["probabilities"] == pytest.approx(e["probabilities"], abs=1e-5)


def assert_answers_like_in_process(url: str, requests: int, expected: list[list[dict]]) -> None:
    """`requests` POST /predict of ARTICLES in turn from 8 concurrent clients (a keep-alive
    connection each); every one answered 200 with what in-process `predict` gave (`expected`)."""
    local = threading.local()

    def send(i: int) -> tuple[int, int, dict]:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=120)
        response = local.client.post("predict", json={"text": ARTICLES[i % len(ARTICLES)]})
        return i, response.status_code, response.json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(requests)))
    assert [status for _, status, _ in answers] == [200] * requests
    for i, _, body in answers:
        assert_same_predictions(body["sentences"], expected[i % len(ARTICLES)])


@pytest.fixture(scope="module")
def classifier(tiny_model) -> StanceClassifier:
    return StanceClassifier.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def server(tiny_model):
    with ServerProcess(tiny_model, LIMITS) as running:
        yield running


def test_200_requests_from_8_clients_equal_in_process_predict_in_shared_passes(server, classifier):
    expected = [as_json(classifier.predict(text)) for text in ARTICLES]
    assert sum(map(len, expected)) > 8 * len(ARTICLES), "the articles should be real-news sized"
    assert any(s["truncated"] for article in expected for s in article), "some sentences should pass the window"
    before = httpx.get(server.url + "health").json()["batching"]
    assert before["pass_size"] == 5 and before["max_batch"] == 64
    assert_answers_like_in_process(server.url, 200, expected)
    after = httpx.get(server.url + "health").json()["batching"]
    requests, calls = after["requests"] - before["requests"], after["model_calls"] - before["model_calls"]
    assert requests == 200
    assert calls < requests / 2, f"{requests} concurrent requests took {calls} model calls: the batcher did not merge them"


def test_concurrent_model_calls_answer_like_in_process_predict(tiny_model, classifier):
    """--concurrent-calls 2: two model calls at once, one inference thread each, same answers."""
    expected = [as_json(classifier.predict(text)) for text in ARTICLES]
    with ServerProcess(tiny_model, LIMITS + ["--concurrent-calls", "2"]) as running:
        assert httpx.get(running.url + "health").json()["batching"]["concurrent_calls"] == 2
        assert_answers_like_in_process(running.url, 48, expected)


def test_min_confidence_and_presplit_sentences(server, classifier):
    article = ARTICLES[0]
    body = httpx.post(server.url + "predict", json={"text": article, "min_confidence": 0.9}).json()
    assert_same_predictions(body["sentences"], as_json(classifier.predict(article, min_confidence=0.9)))
    assert body["sentences"] and all(s["abstained"] and s["label"] == "neutral" for s in body["sentences"])

    sentences = [s["text"] for s in body["sentences"]]
    served = httpx.post(server.url + "predict_sentences", json={"sentences": sentences}).json()["predictions"]
    expected = classifier.predict_proba(sentences)
    assert [p["label"] for p in served] == [classifier.labels[i] for i in expected.argmax(axis=1)]
    assert np.array([[p["probabilities"][label] for label in classifier.labels] for p in served]) == \
        pytest.approx(expected, abs=1e-5)
    assert httpx.post(server.url + "predict", json={"text": "  \n"}).json() == {"sentences": []}
    assert httpx.post(server.url + "predict_sentences", json={"sentences": []}).json() == {"predictions": []}


@pytest.mark.parametrize("path, request_options, status, message", [
    ("predict", {"content": b'{"text": ', "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
    ("predict", {"json": {"text": 5}}, 422, "field 'text': Input should be a valid string"),
    ("predict", {"json": {}}, 422, "field 'text' is missing"),
    ("predict", {"json": {"text": "Talks resume.", "lang": "en"}}, 422, "unknown field 'lang'"),
    ("predict", {"json": ["Talks resume."]}, 422, "must be a JSON object"),
    ("predict", {"content": b"text=hello", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
     422, "Content-Type: application/json"),
    ("predict", {"json": {"text": "Talks resume.", "min_confidence": 2}}, 422, "min_confidence"),
    ("predict_sentences", {"json": {"sentences": ["Talks resume.", None]}}, 422, "sentences.1"),
    ("predict_sentences", {"json": {"sentences": "Talks resume."}}, 422, "sentences"),
    ("predict", {"json": {"text": "x" * 250_000}}, 413, "--max-body-bytes"),
    ("predict_sentences", {"json": {"sentences": ["Talks resume."] * 301}}, 413, "at most 300"),
    ("predict", {"json": {"text": "Talks resume. " * 301}}, 413, "301 sentences"),
    ("nowhere", {"json": {}}, 404, "no such path"),
])
def test_bad_requests_get_a_4xx_naming_the_problem_and_the_server_keeps_serving(server, path, request_options,
                                                                                   status, message):
    response = httpx.post(server.url + path, **request_options)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert httpx.get(server.url + "health").status_code == 200
    assert httpx.post(server.url + "predict", json={"text": "Talks resume."}).status_code == 200


def test_health_docs_and_page(server, classifier):
    health = httpx.get(server.url + "health").json()
    assert health["labels"] == list(classifier.labels) and health["backend"] == classifier.backend.name
    assert health["calibration_temperature"] == pytest.approx(classifier.calibration.temperature)
    assert health["calibration_method"] == classifier.calibration.method
    assert health["limits"] == {"max_body_bytes": 200_000, "max_sentences": 300, "request_timeout_s": 120.0}
    paths = httpx.get(server.url + "openapi.json").json()["paths"]
    assert {"/predict", "/predict_sentences", "/health"} <= set(paths)
    assert "swagger" in httpx.get(server.url + "docs").text.lower()
    assert 'id="article"' in httpx.get(server.url).text
    view = httpx.post(server.url + "view", json={"text": ARTICLES[0], "title": "first"}, timeout=120)
    assert view.status_code == 200 and view.text.count('class="sentence') == len(classifier.predict(ARTICLES[0]))


def test_timeouts_answer_504_and_sigterm_stops_the_server_cleanly(tiny_model):
    with ServerProcess(tiny_model, ["--request-timeout", "0.001"]) as running:
        response = httpx.post(running.url + "predict", json={"text": ARTICLES[0]})
        assert response.status_code == 504 and "--request-timeout" in response.json()["error"]
        assert httpx.get(running.url + "health").status_code == 200
        assert running.stop(signal.SIGTERM) == 0, running.output[-2000:]
    assert "Application shutdown complete" in running.output
