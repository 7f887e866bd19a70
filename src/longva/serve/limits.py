"""Request bodies of the API are capped: 413 from Content-Length before anything is read, or as
soon as a chunked body grows past the cap. The page's uploads have Gradio's own cap."""

from __future__ import annotations

import json

from longva.serve.api_errors import APIError


def too_large(limit: int) -> APIError:
    return APIError(
        413,
        f"the request body is larger than this server's cap of {limit:,} bytes;"
        " send smaller or fewer images/videos (or start the server with a larger --max-request-mb)",
        code="request_too_large",
    )


class BodySizeLimit:
    """ASGI middleware for paths under `prefix`."""

    def __init__(self, app, max_bytes: int, prefix: str = "/v1"):
        self.app, self.max_bytes, self.prefix = app, max_bytes, prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _send_json(send, 413, too_large(self.max_bytes).body())
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise too_large(self.max_bytes)  # answered by the app's APIError handler
            return message

        await self.app(scope, limited_receive, send)


async def _send_json(send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
