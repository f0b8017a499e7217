"""Multipart forms read within bounds (ADR 0376); url-encoded forms read as UTF-8 (ADR 0383).

Litestar's parser keeps a part without a file name in memory whole, however long the route's
body limit lets it be (4 GiB on the genotype uploads), and keeps each of up to 1,000 file
parts in memory up to 1 MiB before it spools it to disk; a field in a charset Python does not
know, or bytes its charset cannot decode, raised out of it (500). The gateway's forms have
a handful of parts: the request class below reads them with these bounds instead, and
Litestar then takes the parsed form as its own (``ScopeState.form``). Litestar decodes an
url-encoded form's bytes that are not UTF-8 as U+FFFD: the text kept was not the text sent,
where the APIs refuse such text; here it is a 400 naming the field, as in a multipart form.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, cast
from urllib.parse import unquote_to_bytes

from litestar import Request
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, HTTPException
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState
from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

# The largest form has five parts (PLINK's three files, the console's CSRF token and names).
MAX_PARTS = 16
# The fields without a file name, together: the console's url-encoded bound (FORM_BODY_LIMIT).
MAX_FIELD_BYTES = 128 * 1024
# A file part is kept in memory up to this, then on disk: 16 parts hold at most 1 MiB.
SPOOLED_BYTES = 64 * 1024
TOO_LARGE = 413


class BoundedFormRequest(Request[Any, Any, Any]):
    """Litestar's request, whose multipart form is read by ``read_multipart``."""

    async def form(self) -> FormMultiDict:
        content_type, options = self.content_type
        state = ScopeState.from_scope(self.scope)
        boundary = options.get("boundary")
        if content_type == RequestEncodingType.MULTI_PART and boundary and state.form is Empty:
            form = await read_multipart(self.stream(), boundary.encode())
            state.form = cast("dict[str, str | list[str] | UploadFile]", form)  # as Litestar's
        elif content_type == RequestEncodingType.URL_ENCODED and state.form is Empty:
            fields = read_url_encoded(await self.body())
            state.form = cast("dict[str, str | list[str] | UploadFile]", fields)
        return await super().form()


def read_url_encoded(body: bytes) -> dict[str, str | list[str]]:
    """The form's fields by name, as Litestar shapes them (a list only for a repeated name);
    400 for a name or value that is not UTF-8 once its percent-escapes are undone."""
    fields: defaultdict[str, list[str]] = defaultdict(list)
    for pair in body.split(b"&"):
        if pair:
            name, _, value = pair.partition(b"=")
            field = _utf8(name, "A form field's name")
            fields[field].append(_utf8(value, f"Form field {field!r}"))
    return {name: values if len(values) > 1 else values[0] for name, values in fields.items()}


def _utf8(encoded: bytes, what: str) -> str:
    try:
        return unquote_to_bytes(encoded.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise ClientException(f"{what} is not UTF-8 text") from None


async def read_multipart(stream: AsyncIterator[bytes], boundary: bytes) -> dict[str, list[Any]]:
    """The form's fields by name (texts, and files as ``UploadFile``); 413 past the bounds
    above, 400 for a form that is not multipart or a field its charset cannot decode."""
    fields: defaultdict[str, list[Any]] = defaultdict(list)
    try:
        await _read_parts(stream, boundary, fields)
    except BaseException:
        for values in fields.values():
            for value in values:
                if isinstance(value, UploadFile):
                    await value.close()
        raise
    return fields


async def _read_parts(
    stream: AsyncIterator[bytes], boundary: bytes, fields: defaultdict[str, list[Any]]
) -> None:
    text_left = MAX_FIELD_BYTES
    segment: MultipartSegment | None = None
    data: UploadFile | bytearray = bytearray()
    chunk = await anext(stream, b"")
    if not chunk:
        return  # no body: an empty form, as Litestar has it
    try:
        with PushMultipartParser(boundary, max_segment_count=MAX_PARTS) as parser:
            while not parser.closed:  # the body's end (an empty chunk) closes the parser
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        segment, data = part, _holder(part)
                    elif part and isinstance(data, UploadFile):
                        await data.write(part)
                    elif part and isinstance(data, bytearray):
                        text_left -= len(part)
                        if text_left < 0:
                            raise HTTPException(
                                f"The form's fields hold at most {MAX_FIELD_BYTES} bytes "
                                "besides its files",
                                status_code=TOO_LARGE,
                            )
                        data.extend(part)
                    elif segment is not None:  # the part's end
                        fields[segment.name].append(await _value(segment, data))
                        segment, data = None, bytearray()
                chunk = await anext(stream, b"")
    except ParserLimitReached:
        raise HTTPException(
            f"A form has at most {MAX_PARTS} parts", status_code=TOO_LARGE
        ) from None
    except ParserError:
        raise ClientException("Invalid multipart/form-data") from None
    finally:
        if isinstance(data, UploadFile):  # a file part not finished
            await data.close()


def _holder(segment: MultipartSegment) -> UploadFile | bytearray:
    if not segment.filename:
        return bytearray()
    return UploadFile(
        content_type=segment.content_type or "text/plain",
        filename=segment.filename,
        headers=dict(segment.headerlist),
        max_spool_size=SPOOLED_BYTES,
    )


async def _value(segment: MultipartSegment, data: UploadFile | bytearray) -> UploadFile | str:
    if isinstance(data, UploadFile):
        await data.seek(0)
        return data
    try:
        return data.decode(segment.charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        raise ClientException(
            f"Multipart field {segment.name!r} is not text in {segment.charset or 'utf-8'}"
        ) from None
