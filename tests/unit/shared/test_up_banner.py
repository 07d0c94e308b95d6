"""`make up`'s closing banner: where each API, its docs, the dashboard and the events are."""

from __future__ import annotations

from typing import Any, cast

from scripts.catalogue import SERVICES
from scripts.up import Running, banner


class _Settings:
    def __init__(self, port: int) -> None:
        self.http_host = "0.0.0.0"  # noqa: S104 - shown as the loopback address
        self.http_port = port
        self.smtp_port = 2525


def _running(name: str, port: int, listener: str | None = None) -> Running:
    [service] = [s for s in SERVICES if s.name == name]
    return Running(
        service=service,
        settings=cast(Any, _Settings(port)),
        process=cast(Any, None),
        colour="",
        port_setting="smtp_port" if listener else None,
        process_command=listener,
    )


def test_the_banner_names_every_api_its_docs_the_dashboard_and_the_catalogue() -> None:
    text = banner(
        [
            _running("intake", 8001),
            _running("intake", 8001, listener="forecourt-intake-smtp"),
            _running("metrics", 8005),
        ]
    )
    assert "http://127.0.0.1:8001/docs" in text
    assert "http://127.0.0.1:8001/openapi.json" in text
    assert "forecourt-intake-smtp" in text and "port 2525" in text
    assert "http://127.0.0.1:8005/dashboard" in text
    assert "docs/asyncapi/<service>.json" in text


def test_no_dashboard_line_without_the_metrics_service() -> None:
    assert "/dashboard" not in banner([_running("intake", 8001)])


def test_make_up_waits_for_readiness_not_only_liveness() -> None:
    """A service alive (/healthz 200) whose database or broker is not answering yet (/readyz
    503) is not ready: `make up` keeps waiting before it prints the banner."""
    import http.server
    import threading

    from scripts.up import _healthy

    ready = {"now": False}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == "/healthz" or (self.path == "/readyz" and ready["now"])
            self.send_response(200 if ok else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert _healthy(url) is False
        ready["now"] = True
        assert _healthy(url) is True
    finally:
        server.shutdown()
        server.server_close()
