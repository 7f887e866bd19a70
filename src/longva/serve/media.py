"""Image/video URLs of a request -> local files. Nothing is ever fetched from the network.

Accepted: `data:<mime>;base64,<payload>` (written to the request's scratch folder), `file://`
URLs and plain paths (absolute, or relative to the allowed root). A path must resolve, symlinks
followed, inside `--allowed-root`: anything else is refused with 403 before the file is
touched, so the answer tells nothing about files outside the root. http(s) and other schemes
are refused with 400.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from longva.serve.api_errors import APIError

DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,", re.I)
SUFFIXES = {  # mime -> file suffix (PyAV and PIL read the content; the suffix only helps them)
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/quicktime": ".mov",
    "video/x-msvideo": ".avi",
    "video/mpeg": ".mpg",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
}

Kind = Literal["image", "video"]


@dataclass(frozen=True)
class MediaRef:
    kind: Kind
    path: Path  # a readable local file (or frame folder for a video)
    label: str  # how the request named it, shortened, for error messages


def resolve_media(
    url: str, kind: Kind, allowed_root: Path | None, scratch: Path, param: str
) -> MediaRef:
    """One `image_url` / `video_url` -> a local file (see the module doc for the rules)."""
    url = url.strip()
    if not url:
        raise APIError(
            400,
            f"{param} is empty; expected a data URL, a file:// URL or a local path",
            param=param,
        )
    if url[:5].lower() == "data:":
        return MediaRef(kind, _write_data_url(url, kind, scratch, param), f"{kind} data URL")
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https", "ftp", "s3", "gs"):
        raise APIError(
            400,
            f"{param}: {scheme} URLs are not fetched by this server; send the {kind} as a"
            " base64 data URL or a local path under the allowed root",
            param=param,
        )
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise APIError(
                400,
                f"{param}: file URL on host {parsed.netloc!r}; expected file:///absolute/path",
                param=param,
            )
        path_text = unquote(parsed.path)
    elif scheme and len(scheme) > 1:  # a one-letter "scheme" is a Windows drive, i.e. a path
        raise APIError(
            400,
            f"{param}: URL scheme {scheme!r} is not supported; expected data:, file:// or a path",
            param=param,
        )
    else:
        path_text = url
    return MediaRef(kind, inside_root(path_text, allowed_root, param), _short(path_text))


def inside_root(path_text: str, allowed_root: Path | None, param: str) -> Path:
    """The resolved path if it lies under `allowed_root` and exists; 403 / 400 otherwise."""
    if allowed_root is None:
        raise APIError(
            403,
            f"{param}: local paths are disabled on this server (it was started without"
            " --allowed-root); send the file as a base64 data URL",
            code="path_not_allowed",
            param=param,
        )
    root = allowed_root.resolve()
    target = (root / Path(path_text).expanduser()).resolve()  # an absolute path replaces root
    if not target.is_relative_to(root):
        raise APIError(
            403,
            f"{param}: {_short(path_text)} is outside the allowed root; expected a path"
            " under the folder the server was started with (--allowed-root)",
            code="path_not_allowed",
            param=param,
        )
    if not target.exists():
        raise APIError(
            400, f"{param}: {_short(path_text)} does not exist under the allowed root", param=param
        )
    return target


def _write_data_url(url: str, kind: Kind, scratch: Path, param: str) -> Path:
    match = DATA_URL.match(url)
    if match is None:
        raise APIError(
            400, f"{param}: malformed data URL; expected data:<mime>;base64,<payload>", param=param
        )
    mime = (match.group("mime") or "").lower()
    if mime and not mime.startswith(("image/", "video/")):
        raise APIError(
            400,
            f"{param}: data URL of type {mime}; expected an image/* or video/* type",
            param=param,
        )
    try:
        payload = base64.b64decode(url[match.end() :], validate=True)
    except (binascii.Error, ValueError):
        raise APIError(
            400, f"{param}: the data URL's payload is not valid base64", param=param
        ) from None
    if not payload:
        raise APIError(
            400, f"{param}: the data URL holds no bytes; expected an encoded {kind}", param=param
        )
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / f"{kind}-{uuid.uuid4().hex[:12]}{SUFFIXES.get(mime, '.bin')}"
    path.write_bytes(payload)  # the scratch folder is private to this request and removed after it
    return path


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
