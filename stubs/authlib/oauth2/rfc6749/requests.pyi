from collections.abc import Mapping
from typing import Any

class OAuth2Payload:
    @property
    def data(self) -> Mapping[str, Any]: ...
    @property
    def redirect_uri(self) -> str | None: ...

class BasicOAuth2Payload(OAuth2Payload):
    def __init__(self, payload: Mapping[str, Any]) -> None: ...

class OAuth2Request(OAuth2Payload):
    method: str
    uri: str
    headers: Any
    payload: Any
    client: Any
    user: Any
    def __init__(self, method: str, uri: str, body: Any = None, headers: Any = None) -> None: ...
    @property
    def scope(self) -> Any: ...
