"""One connection to the user's own server: checked address, no proxies from
the environment, no redirects, TLS verified, the API key only in a header.

Errors become one clear ``EngineError`` line; a connection lost mid-stream is
``ServerGone`` (an ``EngineError``), so a reply can keep what already came.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tui.core.engine.address import ServerAddress, check_url
from tui.core.engine.api import EngineError


@dataclass(frozen=True)
class ServerSettings:
    url: str
    api_key: str = ""               # never logged, never shown
    allow_remote: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 600.0     # one token may take long on a busy server
    chat_slot: int = 0              # llama-server: the chat's slot
    kind: str = "llama-server"      # or "openai"
    model: str = ""                 # openai: the model name to ask for ("" = the server's first)
    tokenizer: str = ""             # openai: a local GGUF whose vocabulary counts tokens


class ServerGone(EngineError):
    """The connection broke while the server was answering."""


class Connection:
    def __init__(self, settings: ServerSettings) -> None:
        import httpx

        self.settings = settings
        self.address: ServerAddress = check_url(settings.url, allow_remote=settings.allow_remote)
        headers = {"Host": f"{self.address.host}:{self.address.port}"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        self._client = httpx.Client(
            base_url=self.address.connect_url(),
            headers=headers,
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            trust_env=False,          # no proxies, no netrc from the environment
            follow_redirects=False,
            verify=True,
        )

    @property
    def where(self) -> str:
        return self.address.url

    def close(self) -> None:
        self._client.close()

    def fail(self, exc: BaseException) -> EngineError:
        import httpx

        if isinstance(exc, httpx.ConnectError):
            return EngineError(f"cannot reach the server at {self.where}: is llama-server running?")
        if isinstance(exc, httpx.TimeoutException):
            return EngineError(f"the server at {self.where} did not answer in time")
        return ServerGone(f"the connection to the server at {self.where} broke: {type(exc).__name__}")

    def check(self, response: Any) -> None:
        code = response.status_code
        if code < 300:
            return
        if code in (401, 403):
            raise EngineError(f"the server at {self.where} refused the API key (HTTP {code})")
        if code == 503:
            raise EngineError(f"the server at {self.where} is still loading its model; try again")
        if code < 400:
            raise EngineError(f"the server at {self.where} answered with a redirect; redirects are not followed")
        try:
            response.read()
            err = response.json().get("error")
            detail = str(err.get("message") if isinstance(err, dict) else err or "")[:200]
        except (ValueError, AttributeError):
            detail = ""
        raise EngineError(f"the server at {self.where} answered HTTP {code}" + (f": {detail}" if detail else ""))

    def json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        import httpx

        try:
            r = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise self.fail(exc) from None
        self.check(r)
        try:
            out = r.json()
        except ValueError:
            raise EngineError(f"the server at {self.where} sent something that is not JSON") from None
        if not isinstance(out, dict):
            raise EngineError(f"the server at {self.where} sent an unexpected answer to {path}")
        return out

    def events(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The JSON objects of a server-sent event stream; closing the
        iterator closes the connection (the server stops generating)."""
        import httpx

        try:
            with self._client.stream("POST", path, json=body) as r:
                self.check(r)
                for line in r.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        obj = json.loads(data)
                    except ValueError:
                        continue
                    if isinstance(obj, dict):
                        yield obj
        except httpx.HTTPError as exc:
            raise self.fail(exc) from None
