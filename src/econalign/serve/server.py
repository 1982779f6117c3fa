"""``econalign serve``: a local agent behind an OpenAI-compatible HTTP API (standard library only).

Endpoints: ``POST /v1/chat/completions`` (see :mod:`econalign.serve.completions` for the fields and
extensions) and ``GET /v1/models``. :class:`AgentServer` takes any object with the Agent interface, so
tests run it with a fake agent and the CLI with ``econalign.model.agent.load_agent``. Requests are read
concurrently but the agent is called by one thread at a time (one JAX job). The server binds to
127.0.0.1 by default; ``--api-key-env`` makes it require ``Authorization: Bearer <key>``.

CLI: ``econalign serve MODEL_DIR [--adapter DIR] [--dtype float32] [--host 127.0.0.1] [--port 8000] [--name NAME]``.
``--dtype`` is the model's precision (as the config's ``model.dtype``); served log-probabilities equal the in-process
agent's only when both use the same dtype.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import signal
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from econalign.serve.completions import RequestError, complete

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 8 << 20
DTYPES = ("float32", "bfloat16", "bfloat16-mixed")
"""The precisions ``--dtype`` accepts: the config's ``model.dtype`` values (``econalign.model.agent.load_agent``)."""


class AgentServer:
    """An OpenAI-compatible HTTP server in front of one agent.

    Args:
        agent: Object with the Agent interface (``generate``, ``choice_logprobs``, ``tokenizer``; optionally
            ``next_token_logprobs`` for ``logprobs`` requests).
        model_name: Name reported by ``/v1/models`` and required in requests' ``model`` field.
        host: Interface to bind (keep the loopback default unless the port is protected).
        port: TCP port; 0 picks a free one (see :attr:`port`).
        api_key: When set, requests must carry ``Authorization: Bearer <api_key>``.
        max_tokens_limit: Largest accepted ``max_tokens``.

    Attributes:
        request_count: POST requests received (any outcome); tests use it to prove cache hits.

    Example:
        >>> with AgentServer(agent, model_name="base", port=0) as server:  # doctest: +SKIP
        ...     print(server.base_url)
        http://127.0.0.1:54321/v1
    """

    def __init__(
        self,
        agent: Any,
        *,
        model_name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        max_tokens_limit: int = 4096,
    ) -> None:
        self.agent = agent
        self.model_name = model_name
        self.max_tokens_limit = max_tokens_limit
        self._api_key = api_key or None
        self._agent_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.request_count = 0
        self._httpd = ThreadingHTTPServer((host, port), _handler_class(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"AgentServer(model_name={self.model_name!r}, url={self.base_url!r})"

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The API root clients use, ``http://host:port/v1``."""
        host = self._httpd.server_address[0]
        return f"http://{host}:{self.port}/v1"

    def start(self) -> AgentServer:
        """Serve in a background daemon thread and return ``self``."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="econalign-serve", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self._httpd.serve_forever()

    def close(self) -> None:
        """Stop serving and release the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> AgentServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- request handling (called from the handler threads) -------------------------------------------

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header grants access."""
        if self._api_key is None:
            return True
        return hmac.compare_digest((header or "").encode("utf-8"), f"Bearer {self._api_key}".encode())

    def models(self) -> dict[str, Any]:
        """The ``GET /v1/models`` reply."""
        model = {"id": self.model_name, "object": "model", "created": 0, "owned_by": "econalign"}
        return {"object": "list", "data": [model]}

    def chat_completion(self, body: Any) -> dict[str, Any]:
        """The ``POST /v1/chat/completions`` reply (raises :class:`RequestError` for a bad request)."""
        with self._count_lock:
            self.request_count += 1
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object")
        with self._agent_lock:
            return complete(self.agent, body, model_name=self.model_name, max_tokens_limit=self.max_tokens_limit)


def _handler_class(server: AgentServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "econalign-serve"

        def do_GET(self) -> None:
            if not server.authorized(self.headers.get("Authorization")):
                self._send(HTTPStatus.UNAUTHORIZED, RequestError("invalid API key", status=401).payload())
            elif self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(HTTPStatus.OK, server.models())
            else:
                self._send(HTTPStatus.NOT_FOUND, RequestError(f"no route {self.path}", status=404).payload())

        def do_POST(self) -> None:
            # Refusals come before the body is read; the unread body would be taken for the next request on a
            # kept-alive connection, so every refusal closes it.
            if not server.authorized(self.headers.get("Authorization")):
                self._refuse(RequestError("invalid API key", status=401))
                return
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._refuse(RequestError(f"no route {self.path}", status=404))
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self._refuse(RequestError("invalid Content-Length", status=400))
                return
            if length > MAX_BODY_BYTES:
                self._refuse(RequestError("request body too large", status=413))
                return
            raw = self.rfile.read(length)
            try:
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError as error:
                    raise RequestError(f"the request body is not JSON: {error}") from None
                self._send(HTTPStatus.OK, server.chat_completion(body))
            except RequestError as error:
                self._send(HTTPStatus(error.status), error.payload())
            except Exception as error:  # an agent failure: report it, keep serving
                logger.exception("chat completion failed")
                self._send(
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    RequestError(f"{type(error).__name__}: {error}", status=500).payload(),
                )

        def _refuse(self, error: RequestError) -> None:
            self.close_connection = True
            self._send(HTTPStatus(error.status), error.payload(), close=True)

        def _send(self, status: HTTPStatus, payload: dict[str, Any], *, close: bool = False) -> None:
            data = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            if close:
                self.send_header("Connection", "close")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            logger.info("%s %s", self.address_string(), format % args)  # request line and status, never headers

    return Handler


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``econalign serve``."""
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="prepared model directory (results/prepare_model/base)")
    parser.add_argument("--adapter", metavar="DIR", help="PEFT adapter directory (results/finetune/{agent}/adapter)")
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float32",
        help="model precision, as the config's model.dtype (default: float32); served log-probabilities equal the "
        "in-process agent's only when both use the same dtype",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one (default: 8000)")
    parser.add_argument("--name", help="served model name (default: the adapter's agent name, else 'base')")
    parser.add_argument("--api-key-env", metavar="VAR", help="require 'Authorization: Bearer $VAR' on every request")
    parser.add_argument(
        "--max-tokens-limit", type=int, default=4096, help="largest accepted max_tokens (default: 4096)"
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def served_name(adapter: str | None) -> str:
    """Default model name: the agent of ``results/finetune/{agent}/adapter``, or ``base`` without adapter.

    Example:
        >>> served_name("results/finetune/moralis/adapter"), served_name(None)
        ('moralis', 'base')
    """
    if adapter is None:
        return "base"
    path = Path(adapter)
    return path.parent.name if path.name == "adapter" else path.name


def check_inputs(model_dir: str | os.PathLike[str], adapter: str | os.PathLike[str] | None) -> None:
    """Check that the model (and adapter) folder exist before loading anything.

    Raises:
        econalign.io.MissingInputError: Naming the missing folder and the command that makes it.
    """
    from econalign.io import MissingInputError

    if not (Path(model_dir) / "config.json").is_file():
        state = "holds no config.json" if Path(model_dir).is_dir() else "does not exist"
        raise MissingInputError(
            f"model folder {model_dir} {state}: `econalign prepare-model` makes one (results/prepare_model/base)"
        )
    if adapter is not None and not Path(adapter).is_dir():
        raise MissingInputError(
            f"adapter folder {adapter} does not exist: `econalign finetune` makes one "
            "(results/finetune/{agent}/adapter)"
        )


def main(args: argparse.Namespace) -> int:
    """Run ``econalign serve`` until interrupted.

    Raises:
        econalign.io.MissingInputError: ``MODEL_DIR`` (or ``--adapter``) does not exist (the CLI exits with status 2).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise SystemExit(f"econalign serve: environment variable {args.api_key_env} is empty or unset")
    check_inputs(args.model_dir, args.adapter)
    from econalign.model.agent import load_agent

    agent = load_agent(args.model_dir, adapter=args.adapter, dtype=args.dtype)
    server = AgentServer(
        agent,
        model_name=args.name or served_name(args.adapter),
        host=args.host,
        port=args.port,
        api_key=api_key,
        max_tokens_limit=args.max_tokens_limit,
    )
    print(f"serving {server.model_name!r} ({args.dtype}) at {server.base_url} (Ctrl-C or SIGTERM stops)", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
