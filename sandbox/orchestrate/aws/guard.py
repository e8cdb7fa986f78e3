"""The local AWS endpoint is not a door for web pages: a WSGI guard in front of moto.

The endpoint runs code on request (a registered ECS task's command, an uploaded
Lambda), so a web page open in the user's browser must not be able to call it. moto's
server answers every origin with permissive CORS and needs no signature. In front of it:

* **A SigV4 ``Authorization`` header is required** (any credentials, as the endpoint
  checks none: ``Authorization: AWS4-HMAC-SHA256 ...``). boto3, the AWS CLI and every SDK
  send one. A page cannot: ``Authorization`` is not a CORS-safelisted header, so a
  cross-origin ``fetch`` that sets it needs a preflight, refused below, and an ``<img>``
  or a form cannot set it at all. Presigned URLs are refused too: their query signature
  is not verified here, so accepting one would let any ``<img src>`` through. Unsigned:
  ``403 MissingAuthenticationToken``, as AWS answers
  (https://docs.aws.amazon.com/general/latest/gr/signing-aws-api-requests.html).
* **Nothing a browser sends.** A request with a ``Sec-Fetch-*`` header (every current
  browser adds them, to loopback too; SDKs never do) is refused.
* **No CORS.** A request that carries an ``Origin`` header is refused, preflights
  included, and no ``Access-Control-*`` header is ever sent, so a cross-origin page can
  neither send nor read. SDKs and the CLI send no ``Origin``.
* **The Host header is one the endpoint serves** (``127.0.0.1``, ``localhost`` or the
  configured host, with its port), so a DNS-rebinding name that resolves to 127.0.0.1
  is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def allowed_hosts(host: str, port: int) -> set[str]:
    """The ``Host`` header values the endpoint on ``host:port`` answers."""
    names = {host, "127.0.0.1", "localhost"}
    return {f"{name}:{port}" for name in names}


def signed(environ: dict[str, Any]) -> bool:
    """Whether the request carries a SigV4 ``Authorization`` header."""
    return str(environ.get("HTTP_AUTHORIZATION", "")).startswith("AWS4-HMAC-SHA256 ")


class Guard:
    """WSGI middleware: refuse what a browser could send, pass the rest to moto."""

    def __init__(self, app: WsgiApp, hosts: set[str]) -> None:
        self.app = app
        self.hosts = hosts

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        refusal = self.refusal(environ)
        if refusal:
            code, message = refusal
            body = json.dumps({"__type": code, "message": message}).encode()
            start_response(
                "403 Forbidden",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]

        def no_cors(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            return start_response(status, kept, *exc)

        return self.app(environ, no_cors)

    def refusal(self, environ: dict[str, Any]) -> tuple[str, str] | None:
        """Why the request is refused (an AWS-style code and message), or None."""
        host = environ.get("HTTP_HOST", "")
        if host not in self.hosts:
            return "AccessDeniedException", f"the local endpoint does not serve Host {host!r}"
        if environ.get("HTTP_ORIGIN") is not None or environ["REQUEST_METHOD"] == "OPTIONS":
            return "AccessDeniedException", "cross-origin requests are refused (no CORS)"
        if any(key.startswith("HTTP_SEC_FETCH_") for key in environ):
            return "AccessDeniedException", "requests from a browser are refused"
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return "AccessDeniedException", "moto's own API is not served"
        if not signed(environ):
            return "MissingAuthenticationToken", "Request is missing Authentication Token"
        return None
