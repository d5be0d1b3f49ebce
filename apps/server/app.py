"""The HTTP API of `stance serve`: a FastAPI app over one StanceClassifier and its batcher.

The same app runs under uvicorn (`stance serve`) and as each replica of the Ray Serve
deployment (`stance serve --engine ray`), so both answer alike. Every forward pass goes through
the SentenceBatcher, and answers are built by the classifier's own code (split_sentences,
`label_sentences`), so a request gets what `StanceClassifier.predict` gives in-process.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import AsyncIterator, Sequence

import numpy as np
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from apps.server.batching import SentenceBatcher
from apps.server.page import page_html
from apps.server.settings import ServerSettings
from apps.views.html_view import render_article_html
from apps.views.profile import profile_predictions
from model.classifier import SentencePrediction, StanceClassifier
from model.explanation import explain_sentences
from model.sentences import split_sentences

log = logging.getLogger("stance.serve")


class RequestError(Exception):
    """A request the server refuses, with the HTTP status and a message naming the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- request and response bodies (they are also the OpenAPI schema at /docs) ---

class PredictRequest(BaseModel):
    """An article to split and label."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="the article text, any length up to the server's body limit")
    min_confidence: float | None = Field(None, ge=0, le=1, description="below this top probability a sentence is "
                                         "labelled neutral with abstained=true")


class ViewRequest(PredictRequest):
    """An article to label and render as the HTML view (the page at / sends this)."""

    title: str = Field("", max_length=300, description="the page's heading")


class SentencesRequest(BaseModel):
    """Sentences already split: the consecutive sentences of one article, in order."""

    model_config = ConfigDict(extra="forbid")
    sentences: list[str]


class SentenceOut(BaseModel):
    """One sentence as StanceClassifier.predict returns it."""

    text: str
    start: int
    end: int
    label: str
    probabilities: dict[str, float]
    truncated: bool
    abstained: bool


class PredictResponse(BaseModel):
    sentences: list[SentenceOut]


class SentenceProbabilities(BaseModel):
    label: str
    probabilities: dict[str, float]


class SentencesResponse(BaseModel):
    predictions: list[SentenceProbabilities]


class BatchingOut(BaseModel):
    max_batch: int
    pass_size: int
    max_wait_ms: float
    concurrent_calls: int
    requests: int
    sentences: int
    model_calls: int
    largest_call: int


class LimitsOut(BaseModel):
    max_body_bytes: int
    max_sentences: int
    request_timeout_s: float


class HealthResponse(BaseModel):
    status: str
    model: str
    labels: list[str]
    backend: str
    weights: list[str]
    calibration_temperature: float
    calibration_method: str
    max_length: int
    context: str
    process_id: int
    batching: BatchingOut
    limits: LimitsOut


@dataclass
class ServedModel:
    """What the routes share: the classifier, its batcher and the settings."""

    classifier: StanceClassifier
    batcher: SentenceBatcher
    settings: ServerSettings

    async def predict(self, text: str, min_confidence: float | None) -> list[SentencePrediction]:
        """StanceClassifier.predict, with the forward pass shared with concurrent requests."""
        # Splitting is linear but not free on a long article: off the event loop.
        sentences = await asyncio.to_thread(split_sentences, text)
        self.check_count(len(sentences))
        probabilities = await self.batcher.probabilities([s.text for s in sentences])
        return self.classifier.label_sentences(sentences, probabilities, min_confidence)

    def check_count(self, sentences: int) -> None:
        if sentences > self.settings.max_sentences:
            raise RequestError(413, f"the request has {sentences} sentences; this server takes at most "
                                    f"{self.settings.max_sentences} per request (--max-sentences): send fewer at a time")


class BatchedProbabilities:
    """The classifier's predict_proba routed through the batcher, for code that runs in a worker
    thread and calls a model synchronously (the occlusion explanations of the page)."""

    def __init__(self, classifier: StanceClassifier, batcher: SentenceBatcher) -> None:
        self.labels = classifier.labels
        self.context = classifier.context
        self._batcher = batcher

    def predict_proba(self, sentences: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        return self._batcher.probabilities_from_thread(sentences, contexts)


router = APIRouter()


def _served(request: Request) -> ServedModel:
    return request.app.state.served


@router.get("/health", response_model=HealthResponse, summary="the model this server runs, and its counters")
async def health(request: Request) -> HealthResponse:
    served = _served(request)
    classifier, settings, stats = served.classifier, served.settings, served.batcher.stats
    return HealthResponse(
        status="ok", model=Path(settings.model_dir).name,
        labels=list(classifier.labels), backend=classifier.backend.name, weights=weight_files(classifier),
        calibration_temperature=classifier.calibration.temperature, calibration_method=classifier.calibration.method,
        max_length=classifier.max_length,
        context=classifier.context, process_id=os.getpid(),
        batching=BatchingOut(max_batch=served.batcher.max_batch, pass_size=served.classifier.batch_size,
                             max_wait_ms=settings.max_wait_ms, concurrent_calls=served.batcher.concurrent_calls,
                             **asdict(stats)),
        limits=LimitsOut(max_body_bytes=settings.max_body_bytes, max_sentences=settings.max_sentences,
                         request_timeout_s=settings.request_timeout_s))


@router.post("/predict", response_model=PredictResponse, summary="split an article and label every sentence")
async def predict(body: PredictRequest, request: Request) -> JSONResponse:
    served = _served(request)
    async with _time_limit(served.settings):
        predictions = await served.predict(body.text, body.min_confidence)
    # Built directly rather than validated again through the response model (which still
    # documents it): a long article's answer is thousands of small objects. `vars` gives the
    # fields, in order, as `asdict` would, without asdict's deep copy of every sentence.
    return JSONResponse({"sentences": [vars(p) for p in predictions]})


@router.post("/predict_sentences", response_model=SentencesResponse,
             summary="label sentences already split (one article's, in order)")
async def predict_sentences(body: SentencesRequest, request: Request) -> JSONResponse:
    served = _served(request)
    served.check_count(len(body.sentences))
    async with _time_limit(served.settings):
        probabilities = await served.batcher.probabilities(body.sentences)
    labels = served.classifier.labels
    return JSONResponse({"predictions": [{"label": labels[int(row.argmax())], "probabilities": dict(zip(labels, row.tolist()))}
                                         for row in probabilities]})


@router.post("/view", response_class=HTMLResponse, summary="the HTML view of an article (what the page at / shows)")
async def view(body: ViewRequest, request: Request) -> HTMLResponse:
    served = _served(request)
    async with _time_limit(served.settings):
        predictions = await served.predict(body.text, body.min_confidence)
        explanations = await asyncio.to_thread(explain_sentences, BatchedProbabilities(served.classifier, served.batcher),
                                               [p.text for p in predictions])
    title = body.title or "article"
    page = render_article_html(body.text, predictions, profile_predictions(predictions, title), explanations, title)
    return HTMLResponse(page)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index() -> HTMLResponse:
    return HTMLResponse(page_html())


@asynccontextmanager
async def _time_limit(settings: ServerSettings) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(settings.request_timeout_s):
            yield
    except TimeoutError:
        raise RequestError(504, f"the request took longer than {settings.request_timeout_s:g} s (--request-timeout); "
                                "send a shorter article or fewer sentences") from None


def create_app(settings: ServerSettings, classifier: StanceClassifier | None = None) -> FastAPI:
    """The app; it loads the model (unless given one) and starts the batcher when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = classifier or load_classifier(settings)
        batcher = SentenceBatcher(loaded, settings.max_batch, settings.max_wait_ms, settings.concurrent_calls or 1)
        await batcher.start()
        app.state.served = ServedModel(loaded, batcher, settings)
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(title="stance-news", summary="Sentence-level stance of news articles: conciliatory, threatening, "
                  "dismissive or neutral.", version="0.1.0", lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(RequestError, _refused)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    app.include_router(router)
    return app


def load_classifier(settings: ServerSettings) -> StanceClassifier:
    """The model as `stance serve` loads it: the classifier's batches are the server's passes."""
    return StanceClassifier.from_pretrained(settings.model_dir, batch_size=settings.pass_size,
                                            backend=settings.backend, threads=settings.threads)


def app_from_environment() -> FastAPI:
    """The app for one of uvicorn's worker processes (`--workers N`), from STANCE_SERVE_SETTINGS."""
    return create_app(ServerSettings.from_json(os.environ["STANCE_SERVE_SETTINGS"]))


# --- limits and errors ---

class BodySizeLimit:
    """Refuses a request body over `max_bytes` with a 413, before any of it is parsed.

    Pure ASGI rather than a Starlette middleware: the body is counted as it arrives, so a client
    that sends more than it declared (or declares nothing) is cut off at the limit too.
    """

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, delivered = b"".join(chunks), False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send) -> None:
        response = JSONResponse({"error": f"the request body is over {self.max_bytes} bytes (--max-body-bytes)"},
                                status_code=413)
        await response(scope, receive, send)


def _field(location: Sequence) -> str:
    parts = [str(part) for part in location[1:]] if location and location[0] == "body" else [str(p) for p in location]
    return ".".join(parts)


def _describe(error: dict) -> tuple[int, str]:
    """The status and a one-line message for one pydantic validation error."""
    kind, location = error.get("type"), tuple(error.get("loc") or ())
    field = _field(location)
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "malformed")
        return 400, f"the request body is not valid JSON ({reason} at character {field or 0})"
    if kind == "missing" and not field:
        return 422, 'the request body is missing: send a JSON object such as {"text": "..."}'
    if kind in ("model_attributes_type", "dict_type") and not field:
        return 422, ("the request body must be a JSON object such as {\"text\": \"...\"} "
                     "(sent with Content-Type: application/json)")
    if kind == "missing":
        return 422, f"field '{field}' is missing"
    if kind == "extra_forbidden":
        return 422, f"unknown field '{field}'"
    return 422, f"field '{field}': {error.get('msg', 'is not valid')}"


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [_describe(error) for error in exc.errors()]
    status = 400 if any(code == 400 for code, _ in problems) else 422
    messages = list(dict.fromkeys(message for _, message in problems))
    return JSONResponse({"error": "; ".join(messages), "problems": messages}, status_code=status)


async def _refused(request: Request, exc: RequestError) -> JSONResponse:
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404:
        message = f"no such path {request.url.path}; see /docs for the API"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; see /docs for the API"
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("error while serving %s %s", request.method, request.url.path)
    return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)


def weight_files(classifier: StanceClassifier) -> list[str]:
    """The weight files the classifier runs, by name."""
    backend = classifier.backend
    files = [getattr(backend, "model_file", None), getattr(backend, "check_file", None)]
    names = [Path(f).name for f in files if f is not None]
    return names or ["model.safetensors"]
