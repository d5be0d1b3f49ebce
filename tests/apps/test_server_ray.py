"""`stance serve --engine ray`: a local Ray Serve deployment of 2 replicas answers like the
model in-process (about two minutes: Ray and each replica start slowly)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import corpus_article_texts
from model import StanceClassifier

httpx = pytest.importorskip("httpx", reason="the server's tests need the serve extra: pip install 'stance-news[serve]'")
pytest.importorskip("ray.serve", reason="Ray Serve is an optional extra: pip install 'stance-news[ray]'")

from apps.server.local import ServerProcess  # noqa: E402

ARTICLES = list(corpus_article_texts(8).values())


def test_two_ray_serve_replicas_answer_like_in_process_predict(tiny_model):
    server = ServerProcess(tiny_model, ["--engine", "ray", "--replicas", "2", "--max-wait-ms", "20"],
                           start_timeout_s=300, stop_timeout_s=60)
    try:
        server.__enter__()
    except RuntimeError as error:
        if "Ray could not start" in str(error):
            pytest.skip(f"Ray cannot start on this machine: {str(error).splitlines()[-1]}")
        raise
    try:
        classifier = StanceClassifier.from_pretrained(tiny_model)
        expected = [[(p.text, p.start, p.end, p.label) for p in classifier.predict(text)] for text in ARTICLES]

        def send(i: int) -> tuple[int, int, list]:
            response = httpx.post(server.url + "predict", json={"text": ARTICLES[i % len(ARTICLES)]}, timeout=120)
            return i, response.status_code, response.json().get("sentences", [])

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, range(40)))
        assert [status for _, status, _ in answers] == [200] * 40
        for i, _, sentences in answers:
            assert [(s["text"], s["start"], s["end"], s["label"]) for s in sentences] == expected[i % len(ARTICLES)]
        processes = {httpx.get(server.url + "health", timeout=30).json()["process_id"] for _ in range(30)}
        assert len(processes) == 2, "the requests should have reached both replicas"
        assert httpx.post(server.url + "predict", json={"text": 5}).status_code == 422
    finally:
        status = server.stop()
    assert status == 0, server.output[-3000:]
