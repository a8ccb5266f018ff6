"""A loopback HTTP server that answers like an OpenAI-compatible one, healthy or failing,
counting what it is sent: for the openai backend's tests and their subprocesses."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def completion(text: str) -> str:
    return json.dumps({"choices": [{"text": text, "finish_reason": "stop", "index": 0}]})


class Scripted(BaseHTTPRequestHandler):
    """Answers every POST with the server's `status` (200: a completion of its `text`, ended
    with a stop), counting them."""

    # Keeps connections open between requests, as real servers do.
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # the name http.server dispatches to
        server = self.server
        self.rfile.read(int(self.headers["Content-Length"]))
        with server.lock:
            server.hits += 1
        failed = '{"detail": "scripted"}'
        body = (completion(server.text) if server.status == 200 else failed).encode()
        self.send_response(server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def scripted(status: int, text: str = " done.") -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    server.status, server.text, server.hits = status, text, 0
    server.lock = threading.Lock()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"
