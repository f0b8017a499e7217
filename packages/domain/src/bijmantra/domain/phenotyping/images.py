"""Image files: only raster formats whose bytes say what their media type claims.

A client's ``Content-Type`` is checked against the file's signature, so a text or script
uploaded as ``image/png`` is refused; formats that can carry scripts (SVG) are not images
here.
"""

from __future__ import annotations

SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
    "image/bmp": (b"BM",),
}


def image_problem(media_type: str, content: bytes, max_bytes: int) -> str | None:
    """Why ``content`` is not an acceptable image of ``media_type``, or ``None``."""
    kind = media_type.split(";", 1)[0].strip().lower()
    if kind not in SIGNATURES:
        return f"media type must be one of {', '.join(SIGNATURES)}"
    if not content:
        return "the file is empty"
    if len(content) > max_bytes:
        return f"the file is larger than {max_bytes} bytes"
    if not content.startswith(SIGNATURES[kind]):
        return f"the file is not a {kind} image"
    if kind == "image/webp" and content[8:12] != b"WEBP":
        return "the file is not a image/webp image"
    return None
