"""An in-process, Redis-compatible server (fakeredis) for `durable dev` without a Redis.

fakeredis 2.40's TCP server needs two small adjustments to serve the engine and arq; they apply
only to the server `durable dev` starts, never to other fakeredis users.
"""

from __future__ import annotations

import threading
from typing import Any


class EmbeddedRedis:
    """fakeredis speaking the Redis protocol on a free loopback port, in a background thread."""

    def __init__(self) -> None:
        from fakeredis import TcpFakeServer

        self._server: Any = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
        self._server.RequestHandlerClass = _errors_keep_connection(self._server.RequestHandlerClass)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="durable-dev-redis", daemon=True
        )
        self._thread.start()
        self.description = "embedded fakeredis; data is lost on exit"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _errors_keep_connection(handler: Any) -> Any:
    """Make fakeredis's TCP server good enough for the engine and arq.

    fakeredis 2.40's TCP handler closes the connection after any error reply, but redis-py
    answers NOSCRIPT (from EVALSHA) by loading the script on the same connection: send error
    replies as replies instead. It also has no INFO, which arq's worker calls once at start:
    answer with an empty report.
    """
    from redis.exceptions import ResponseError

    class Handler(handler):  # type: ignore[misc]
        def setup(self) -> None:
            super().setup()
            read = self.current_client.read_response

            def read_response(*args: Any, **kwargs: Any) -> Any:
                try:
                    return read(*args, **kwargs)
                except ResponseError as exc:
                    if str(exc).lower().startswith("unknown command 'info'"):
                        return b""
                    return exc

            self.current_client.read_response = read_response

    return Handler
