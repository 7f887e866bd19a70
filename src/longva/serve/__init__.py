"""`longva serve`: one process serving a web page (Gradio) and an OpenAI-compatible API.

    longva serve --model DIR [--host 127.0.0.1 --port 8000] [--api-key K] [--allowed-root PATH]

Modules:
- `cli` (the command), `settings` (options and limits), `app` (the FastAPI app: routes, errors,
  the page mounted at /), `limits` (request body cap);
- `openai_schema` / `openai_routes` (`POST /v1/chat/completions`, `GET /v1/models`, `/health`),
  `api_errors` (OpenAI's error JSON), `messages` (OpenAI messages -> a conversation plan),
  `media` (image/video URLs -> local files under the allowed root, never fetched);
- `slots` (the bounded queue: one generation at a time), `engine` (the model thread, jobs that
  stream and can be cancelled), `answering` (the work done in that thread), `visual_prep`
  (media -> PreparedVisuals with frame caps), `budget` (tokens and context fit), `stops`;
- `page` / `page_logic` (the Gradio page), `examples` (bundled synthetic videos).

Nothing here is imported by `longva --help`: the CLI imports this package's modules inside the
command, and fastapi/gradio/uvicorn come with the `serve` extra (`pip install 'longva[serve]'`).
"""
