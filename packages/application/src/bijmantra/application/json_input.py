"""Decoding untrusted JSON bodies within bounds: unreadable input (not JSON, invalid UTF-8,
nested too deeply) is ``Malformed`` (400), readable but wrong input ``ValidationFailed``.

A decoder that materialises first and counts afterwards has already paid for the attack: a
3 MB body of one million ``{}`` is a million dicts before any length check runs, and the
use case behind it multiplies that. So the shape is checked *before* decoding by a scan
that stops at the first token past a bound: the nesting depth (a 10,000-deep body otherwise
ends in a ``RecursionError``) and the number of top-level items (the items of a bulk write).
Invalid UTF-8 and over-deep input that reach the decoder are 4xx too, never a server error.
A decoded string holding NUL (``"\\u0000"``) is refused too: PostgreSQL text cannot store it,
so it would fail at the first write as a 500.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from bijmantra.kernel import FieldError, Malformed, ValidationFailed

MAX_DEPTH = 64
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{},")
_INNERMOST = re.compile(rb"\[[^\[\]{}]*\]|\{[^\[\]{}]*\}")
_decoder = msgspec.json.Decoder()
T = TypeVar("T")


def check_shape(body: bytes, *, max_items: int | None = None, max_depth: int = MAX_DEPTH) -> None:
    """Refuse ``body`` if it nests deeper than ``max_depth`` or its top-level array/object has
    more than ``max_items`` (at least 1) members, without building it.

    Escapes and strings are cut out and only the structural bytes ``[]{},`` kept; then one
    regex pass after another removes the innermost containers (C loops, no Python per
    token). The number of passes is the depth, and what the last pass removes is the
    top-level container, whose commas count its items. (Empty ``{}``/``[]`` go first in one
    ``replace`` each, so the depth seen may be up to two less than the real one.) Malformed
    input is left for the decoder to report (its message is better)."""
    shallow = body.count(b"[") + body.count(b"{") <= max_depth
    if shallow and (max_items is None or body.count(b",") < max_items):
        return  # too few brackets to nest deeper, too few commas for more items
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[0::2])
    structure = outside_strings.translate(None, _NOT_STRUCTURE)
    structure = structure.replace(b"{}", b"").replace(b"[]", b"")  # the cheap innermost ones
    for _ in range(max_depth):
        inner = _INNERMOST.sub(b"", structure)
        if not inner:  # ``structure`` was the top-level container alone
            if max_items is not None and structure.count(b",") >= max_items:
                raise ValidationFailed(
                    "Too many items in one request",
                    [FieldError("body", f"at most {max_items} items per request")],
                )
            return
        if inner == structure:
            return  # unbalanced: malformed, which the decoder says better
        structure = inner
    raise Malformed(
        "Request body nests too deeply",
        [FieldError("body", f"at most {max_depth} levels of arrays and objects")],
    )


def decode_bounded(
    body: bytes,
    what: str,
    *,
    max_items: int | None = None,
    shape: type[T] | None = None,
) -> Any:
    """``body`` decoded (as ``shape`` if given) after :func:`check_shape`; ``what`` names the
    expected document in the error ("a JSON array")."""
    check_shape(body, max_items=max_items)
    try:
        if shape is None:
            return _decoder.decode(body)
        return msgspec.json.decode(body, type=shape)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"Invalid request: {exc}", [FieldError("body", str(exc))]) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise unreadable(exc, what) from None
    except RecursionError:
        raise Malformed(
            "Request body nests too deeply", [FieldError("body", "too deeply nested")]
        ) from None


def decode_body(body: bytes, kind: type[T], what: str) -> T:
    """A request body as ``kind``: a wrong field is a 422 naming ``what``, a body that is not
    JSON a 400; nothing is decoded past the shape bounds."""
    check_shape(body)  # nesting depth, before the decoder recurses
    try:
        decoded = msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"Invalid {what}", [FieldError("body", str(exc))]) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise unreadable(exc, "JSON") from None
    refuse_nul(body, decoded)
    return decoded


def refuse_nul(body: bytes, decoded: object) -> None:
    """``Malformed`` (400) naming the field if a string of ``decoded`` holds NUL. Only a body
    with the escape ``\\u0000`` can, so the walk runs only then; ``msgspec.Raw`` parts (items
    a use case decodes one by one, reporting each) are left to it."""
    if b"\\u0000" not in body:
        return
    pending: list[tuple[str, object]] = [("body", decoded)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, str) and "\x00" in value:
            raise Malformed(
                "Text must not contain NUL characters", [FieldError(where, "holds NUL")]
            )
        if isinstance(value, msgspec.Struct):
            names = zip(value.__struct_fields__, value.__struct_encode_fields__, strict=True)
            pending.extend((f"{where}.{wire}", getattr(value, name)) for name, wire in names)
        elif isinstance(value, dict):
            pending.extend((f"{where}.{key}", item) for key, item in value.items())
            pending.extend((where, key) for key in value)
        elif isinstance(value, (list, tuple)):
            pending.extend((f"{where}[{n}]", item) for n, item in enumerate(value))


def unreadable(exc: msgspec.DecodeError | UnicodeDecodeError, what: str) -> Malformed:
    """The 400 for a body that is not ``what`` at all: not JSON, or not UTF-8 (which the
    decoder raises as ``UnicodeDecodeError``, outside ``DecodeError``)."""
    return Malformed(f"Request body must be {what}", [FieldError("body", _reason(exc))])


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 at byte {exc.start}"
    return str(exc)
