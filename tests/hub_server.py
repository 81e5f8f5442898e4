"""A minimal Hugging Face Hub on 127.0.0.1: the ``/{repo}/resolve/{revision}/{file}`` protocol."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_PATH = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")


@dataclass
class HubState:
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (repo, filename) -> content
    truncate: set[str] = field(default_factory=set)  # filenames whose transfers break off midway
    requests: list[tuple[str, str]] = field(default_factory=list)
    silent: bool = False  # accept every request and answer none (until the server stops)
    stopping: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    state: HubState

    def log_message(self, *args):  # keep test output quiet
        pass

    def _lookup(self):
        match = _PATH.match(self.path.split("?")[0])
        if not match:
            self.send_error(404)
            return None
        key = (match["repo"], match["file"])
        if match["repo"] not in {repo for repo, _ in self.state.files}:
            self.send_response(404)
            self.send_header("X-Error-Code", "RepoNotFound")
            self.end_headers()
            return None
        if key not in self.state.files:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("X-Repo-Commit", COMMIT)
            self.end_headers()
            return None
        return match["file"], self.state.files[key]

    def _headers(self, name: str, content: bytes) -> None:
        self.send_response(200)
        self.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()

    def _answers(self, method: str) -> bool:
        """Record the request; a silent hub holds it, unanswered, until the server stops."""
        self.state.requests.append((method, self.path))
        if self.state.silent:
            self.state.stopping.wait()
            self.close_connection = True
        return not self.state.silent

    def do_HEAD(self):
        if not self._answers("HEAD"):
            return
        found = self._lookup()
        if found:
            self._headers(*found)

    def do_GET(self):
        if not self._answers("GET"):
            return
        found = self._lookup()
        if not found:
            return
        name, content = found
        self._headers(name, content)
        if name in self.state.truncate:
            self.wfile.write(content[: len(content) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(content)


class HubServer:
    def __init__(self):
        self.state = HubState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.state.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
