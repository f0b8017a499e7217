"""``Content-Disposition`` for a file the platform hands out (RFC 6266, RFC 8187).

File names are made from ids and names a caller chose (a device id, an artifact name, a
record id). Written into the header as they came, a quote or a backslash would end the
``filename`` parameter early and a control character would break the header; a name
outside ASCII has no portable plain form. So ``filename`` carries a plain-ASCII stand-in
and ``filename*`` the exact name, percent-encoded in UTF-8, which every current browser
prefers."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote

# What may stand in a quoted ``filename`` without escaping, in every client: visible ASCII
# less the quote, the backslash and the characters file systems refuse.
_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\/:*?<>|%]')


def content_disposition(
    name: str, disposition: Literal["attachment", "inline"] = "attachment"
) -> str:
    """The header's value for a file called ``name``."""
    plain = _UNSAFE.sub("_", name) or "download"
    header = f'{disposition}; filename="{plain}"'
    if plain != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header
