"""`longva serve`: the web page and the OpenAI-compatible API of one model (registered into the
main app by longva.cli). Everything heavy is imported inside the command, so `longva --help`
stays fast and works without the `serve` extra."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from longva.errors import InputError
from longva.utils.numbers import POSITIVE, POSITIVE_INT, bounded


def serve_cmd(
    model: Path = typer.Option(..., "--model", "-m", help="LongVA model folder"),
    host: str = typer.Option(
        "127.0.0.1", help="address to listen on (loopback by default; 0.0.0.0 exposes it)"
    ),
    port: int = typer.Option(8000, help="port to listen on"),
    api_key: str | None = typer.Option(
        None,
        envvar="LONGVA_API_KEY",
        help="require 'Authorization: Bearer KEY' (and KEY as the page's password)",
    ),
    allowed_root: Path | None = typer.Option(
        None,
        help="local paths / file:// URLs in requests must lie under it;"
        " none: only data URLs are accepted",
    ),
    name: str | None = typer.Option(
        None, help="the model id clients send (default: the folder's name)"
    ),
    max_queue: int = typer.Option(
        8, help="requests that may wait behind the running one (429 beyond)"
    ),
    frames: int = typer.Option(32, help="frames sampled uniformly when a request does not say"),
    max_frames: int = typer.Option(128, help="the most frames a request may sample per video"),
    max_visuals: int = typer.Option(8, help="the most images + videos per request"),
    max_new_tokens: int = typer.Option(
        1024, help="the longest answer a request may ask for (and the default)"
    ),
    max_request_mb: float = typer.Option(
        64.0, help="the largest request body (and page upload), in MiB"
    ),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto"),
    dtype: str = typer.Option(
        "auto", help="auto (bf16 on GPU, fp32 on CPU), float32|fp32, bfloat16|bf16, float16|fp16"
    ),
    ui: bool = typer.Option(
        True, "--ui/--no-ui", help="serve the web page at / (the API is always on)"
    ),
    log_level: str = typer.Option(
        "info", help="uvicorn's log level: critical, error, warning, info, debug"
    ),
) -> None:
    """Serve a model: a web page at / and an OpenAI-compatible API at /v1 (one process)."""
    from longva.serve.settings import ServeSettings, check_port_free, exposure_warning

    for value, flag in ((max_queue, "--max-queue"), (max_frames, "--max-frames"), (max_visuals, "--max-visuals"),
                        (max_new_tokens, "--max-new-tokens")):
        bounded(value, flag, POSITIVE_INT)
    bounded(max_request_mb, "--max-request-mb", POSITIVE)
    settings = ServeSettings(
        model_dir=model,
        host=host,
        port=port,
        model_name=name,
        api_key=api_key,
        allowed_root=allowed_root,
        max_queue=max_queue,
        max_request_bytes=int(max_request_mb * (1 << 20)),
        max_frames=max_frames,
        default_frames=frames,
        max_visuals=max_visuals,
        max_new_tokens=max_new_tokens,
        device=device,
        dtype=dtype,
        ui=ui,
    ).validated()
    if log_level not in ("critical", "error", "warning", "info", "debug", "trace"):
        raise InputError(
            f"--log-level {log_level!r}: expected critical, error, warning, info or debug"
        )
    warning = exposure_warning(settings)
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    check_port_free(host, port)
    try:
        from longva.serve.app import run
    except ImportError as e:
        raise InputError(
            f"longva serve needs the serve extra ({e.name} is missing); install it with"
            " pip install 'longva[serve]'"
        ) from None
    run(settings, log_level)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `longva` app."""
    app.command("serve")(serve_cmd)
