"""The FastAPI app of `longva serve`: API routes, body-size limit, errors, the page at `/`.

    app = create_app(settings, load_pipeline(settings.model_dir))   # or: run(settings)

The page is mounted last so the API's routes match first. Errors anywhere in the API answer
in OpenAI's error JSON. At shutdown running generations are told to stop.
"""

from __future__ import annotations

import hmac
import logging
import os
import shutil
import sys
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from longva.errors import LongVAError
from longva.serve.api_errors import APIError, error_body
from longva.serve.engine import Engine
from longva.serve.limits import BodySizeLimit
from longva.serve.openai_routes import api_error, openai_router
from longva.serve.settings import ServeSettings

log = logging.getLogger("longva.serve")
QUIET_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}
for _name, _value in QUIET_ENV.items():  # before gradio is imported: it reads them once
    os.environ.setdefault(_name, _value)


def create_app(settings: ServeSettings, pipeline) -> FastAPI:
    engine = Engine(pipeline, settings)
    examples_dir = Path(tempfile.mkdtemp(prefix="longva-examples-"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        engine.close()
        shutil.rmtree(examples_dir, ignore_errors=True)

    app = FastAPI(
        title="longva serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.engine = engine
    app.include_router(openai_router(engine))
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    add_error_handlers(app)
    if settings.ui:
        mount_page(app, engine, examples_dir)
    return app


def add_error_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        error = api_error(exc)
        if error.status >= 500:
            log.error("internal error on %s", request.url.path, exc_info=exc)
        return JSONResponse(error.body(), status_code=error.status)

    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(x) for x in first["loc"])
        return JSONResponse(
            error_body(400, f"{where}: {first['msg']}", param=where), status_code=400
        )

    app.add_exception_handler(APIError, on_api_error)
    app.add_exception_handler(LongVAError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_api_error)


def mount_page(app: FastAPI, engine: Engine, examples_dir: Path) -> None:
    import gradio as gr

    from longva.serve.examples import write_examples
    from longva.serve.page import CSS, build_page, theme

    examples = write_examples(examples_dir)
    page = build_page(engine, examples).queue(default_concurrency_limit=1, max_size=64)
    key = engine.settings.api_key
    auth = (
        (lambda _user, password: hmac.compare_digest(password.encode(), key.encode()))
        if key
        else None
    )
    gr.mount_gradio_app(
        app,
        page,
        path="",
        auth=auth,
        auth_message="Enter the server's API key as the password (any user name).",
        allowed_paths=[str(examples_dir)],
        max_file_size=engine.settings.max_request_bytes,
        ssr_mode=False,
        mcp_server=False,
        footer_links=[],
        theme=theme(),
        css=CSS,
    )


def run(settings: ServeSettings, log_level: str = "info") -> None:
    """Load the model and serve until interrupted."""
    import uvicorn

    from longva.inference.pipeline import load_pipeline

    pipeline = load_pipeline(settings.model_dir, dtype=settings.dtype, device=settings.device)
    app = create_app(settings, pipeline)
    url = f"http://{settings.host}:{settings.port}"
    where = f"{url}/ (page) and {url}/v1 (OpenAI API)" if settings.ui else f"{url}/v1 (OpenAI API)"
    print(f"longva serve: {settings.name} at {where}; Ctrl+C stops", file=sys.stderr, flush=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )
