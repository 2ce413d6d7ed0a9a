"""Passwords stay out of what commands print and out of other servers' hands: a URL urllib
cannot read is refused without quoting it, and the management client never carries the
broker's credentials across a redirect to another server (real local HTTP servers)."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from desktop.core.broker.queue_rabbitmq import RabbitQueues
from desktop.core.broker.queue_types import QueueError
from tests.desk_cli import celery_desk
from tests.hostile_messages import deep_args_message, deeply_nested

SECRET = "Zq7Wk9xR"


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET[:4]}/{SECRET[4:]}@127.0.0.1:1/0",
        f"amqp://user:{SECRET[:4]}#{SECRET[4:]}@127.0.0.1:1/vhost",
        f"redis://:{SECRET[:4]}?{SECRET[4:]}@127.0.0.1:1",
    ],
)
def test_a_url_urllib_misreads_is_refused_without_quoting_it(url: str) -> None:
    """The port error urllib raises ("Port could not be cast to integer value as 'Zq7W'")
    quoted the password and ended `queues` in a traceback."""
    for command in (["queues", "--broker", url], ["worker", "list", "--broker", url]):
        done = celery_desk(*command)
        assert done.returncode == 2, done.stderr[-2000:]
        assert "percent-encoded" in done.stderr
        for piece in (SECRET[:4], SECRET[4:]):
            assert piece not in done.stdout + done.stderr, command


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers by `routes` (path -> (status, headers, body)); keeps every request's headers."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    seen: list[tuple[str, dict[str, str]]] = []

    def _answer(self) -> None:
        self.seen.append((self.path, dict(self.headers)))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, body = self.routes.get(self.path, (404, {}, b"{}"))
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def serve() -> Iterator[Callable[[dict[str, tuple[int, dict[str, str], bytes]]], Any]]:
    """Starts real HTTP servers on free local ports; each gets its own routes and record."""
    started: list[http.server.ThreadingHTTPServer] = []

    def start(routes: dict[str, tuple[int, dict[str, str], bytes]]) -> Any:
        handler = type("Handler", (_Recorder,), {"routes": routes, "seen": []})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def test_the_management_client_never_sends_credentials_to_another_server(serve: Any) -> None:
    other = serve({"/api/overview": (200, {}, b"{}")})
    other_port = other.server_address[1]
    first = serve({
        "/api/overview": (302, {"Location": f"http://localhost:{other_port}/api/overview"}, b""),
        "/api/moved": (301, {"Location": "/api/overview-here"}, b""),
        "/api/overview-here": (200, {}, b'{"ok": true}'),
    })  # fmt: skip
    broker = f"amqp://guest:{SECRET}@127.0.0.1:1//"
    client = RabbitQueues(broker, f"http://127.0.0.1:{first.server_address[1]}")
    with pytest.raises(QueueError, match="redirected to another server"):
        client.check_management()
    assert other.RequestHandlerClass.seen == []
    assert client._api("/api/moved") == {"ok": True}  # the same server: followed
    token = base64.b64encode(f"guest:{SECRET}".encode()).decode()
    assert [h.get("Authorization") for _p, h in first.RequestHandlerClass.seen] == [
        f"Basic {token}"
    ] * 3


def test_hostile_messages_from_the_management_api_are_not_decoded_alone(serve: Any) -> None:
    """What RabbitMQ's "get" would return for a good message, one whose args nest 100,000
    deep, one that is not a message; and a page whose headers nest too deep for any JSON
    reader, which fails only that queue's page."""
    good = {
        "payload": json.dumps([[1], {}, {}]), "payload_encoding": "string",
        "properties": {"content_type": "application/json",
                       "headers": {"task": "workers.tasks.add", "id": "good"}},
    }  # fmt: skip
    deep_args = json.loads(deep_args_message().replace(deeply_nested(), "0"))  # the shape
    deep = {
        "payload": "[" + deeply_nested() + ", {}, {}]", "payload_encoding": "string",
        "properties": {"content_type": "application/json", "headers": deep_args["headers"]},
    }  # fmt: skip
    page = f"[{json.dumps(good)}, {json.dumps(deep)}, 7]".encode()
    too_deep = f'[{{"properties": {{"headers": {{"x": {deeply_nested()}}}}}}}]'.encode()
    server = serve({
        "/api/queues/%2F/hostile/get": (200, {}, page),
        "/api/queues/%2F/deeper/get": (200, {}, too_deep),
    })  # fmt: skip
    client = RabbitQueues("amqp://guest:guest@127.0.0.1:1//",
                                 f"http://127.0.0.1:{server.server_address[1]}")  # fmt: skip
    listed = client.waiting("hostile")
    assert [(w.message.task, w.message.note) for w in listed] == [
        ("workers.tasks.add", ""),
        (None, "not decoded: the body is nested deeper than 100 levels"),
        (None, "not decoded: the management API's entry is not a message"),
    ]
    with pytest.raises(QueueError, match="nested deeper"):
        client.waiting("deeper")
