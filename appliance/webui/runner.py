"""The runner that serves the app: aiohttp's, with the API's JSON error for bad HTTP.

A request aiohttp's parser refuses (a request line over 8,190 bytes, a header it
cannot read, a broken chunked body) never reaches the app's middlewares: the protocol
answers it itself, in text/plain, and logs a traceback at ERROR for something any
remote peer can send. Here such answers carry the same JSON error body as every other
API error, and the log line is a rate-limited warning without a traceback.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

_LOGGER = logging.getLogger(__name__)
_LOG_EVERY = 60.0  # s between log lines about malformed requests
_CODES = {400: "bad_request", 413: "too_large", 431: "headers_too_large"}


class _JsonErrors(RequestHandler):
    """aiohttp's protocol handler with JSON bodies for the errors it answers itself."""

    _logged_at = 0.0
    _since_log = 0

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        cls = type(self)
        cls._since_log += 1
        now = time.monotonic()
        if now - cls._logged_at >= _LOG_EVERY:
            _LOGGER.warning(
                "refused %d malformed HTTP request(s), the latest from %s: %s",
                cls._since_log,
                request.remote,
                exc or message,
            )
            cls._logged_at, cls._since_log = now, 0
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        reason = str(getattr(exc, "message", "") or message or "malformed request")
        body = {"error": {"code": _CODES.get(status, "bad_request"), "message": reason[:200]}}
        response = web.Response(
            status=status,
            text=json.dumps(body),
            content_type="application/json",
            headers={"X-Content-Type-Options": "nosniff"},
        )
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrors(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """aiohttp's AppRunner whose connections answer malformed requests in JSON."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The app builds its Server (router, request factory, handler settings); only
        # the protocol class it hands each connection changes. Server has no slots and
        # _JsonErrorServer adds no state, so switching the class is safe.
        server.__class__ = _JsonErrorServer
        return server


def make_runner(app: web.Application, **kwargs: Any) -> AppRunner:
    """Return the runner the appliance serves `app` with."""
    return AppRunner(app, **kwargs)
