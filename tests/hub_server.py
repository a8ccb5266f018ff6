"""A loopback Hugging Face Hub for the tests: the endpoints huggingface_hub and `datasets`
call to push a dataset version and read it back, closely enough that the real client code
runs unchanged against it with HF_ENDPOINT pointing here.

Each dataset repo is an in-memory list of commits (path -> bytes snapshots) with tags, as on
the Hub: a new repo starts with an "initial commit" holding `.gitattributes`; every upload is
"regular" (base64 in the commit payload), so no LFS or Xet protocol is needed; errors carry
the Hub's X-Error-Code / X-Error-Message headers, from which the client picks its exception.

Tokens: an unknown token is refused with 401 on every request, as the Hub does; writes
need a token given `write` access (a `read` one gets 403); a private repo is not found (401)
without a token. Faults for the tests: `fail` answers the next requests of a kind with a
status (or a proxy's HTML error page), `lose_response` carries out the next request of a
kind and then drops the connection without answering, as a crash or a network cut after the
Hub committed would.

The standard library's http.server (and PyYAML for the card check): a dozen routes need no
web framework.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import huggingface_hub
import pytest
import yaml

GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
INVALID_TOKEN = "Invalid credentials in Authorization header"


def git_blob_oid(data: bytes) -> str:
    """The git object id of a file's bytes, which the Hub reports as a regular file's oid."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    oid: str
    title: str
    message: str
    files: dict[str, bytes]
    date: str


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: list[Commit] = field(default_factory=list)  # oldest first; the last is main
    tags: dict[str, str] = field(default_factory=dict)  # tag -> commit oid

    def resolve(self, revision: str) -> Commit | None:
        if revision == "main":
            return self.commits[-1]
        oid = self.tags.get(revision, revision)
        return next((c for c in self.commits if c.oid == oid), None)


class HubError(Exception):
    """An error answer: status, the Hub's error code header (if any) and message."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass
class Request:
    """What a handler sees of one request."""

    method: str
    kind: str
    groups: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    token: str | None


# (method, path pattern, kind, whether it writes); the kind names the request for faults and
# counts. The repo id is owner/name; a revision is URL-quoted by the client.
REPO = r"/api/datasets/(?P<repo>[^/]+/[^/]+)"
RESOLVE = r"/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)"
ROUTES: list[tuple[str, re.Pattern[str], str, bool]] = [
    ("POST", re.compile(r"/api/repos/create"), "create", True),
    ("POST", re.compile(r"/api/validate-yaml"), "validate-yaml", False),
    ("GET", re.compile(REPO + r"/refs"), "refs", False),
    ("GET", re.compile(REPO + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?"), "tree", False),
    ("POST", re.compile(REPO + r"/paths-info/(?P<rev>[^/]+)"), "paths-info", False),
    ("POST", re.compile(REPO + r"/preupload/(?P<rev>[^/]+)"), "preupload", True),
    ("POST", re.compile(REPO + r"/commit/(?P<rev>[^/]+)"), "commit", True),
    ("POST", re.compile(REPO + r"/tag/(?P<rev>[^/]+)"), "tag", True),
    ("GET", re.compile(REPO + r"/commits/(?P<rev>[^/]+)"), "commits", False),
    ("GET", re.compile(REPO + r"(?:/revision/(?P<rev>[^/]+))?"), "info", False),
    ("GET", re.compile(RESOLVE), "resolve", False),
    ("HEAD", re.compile(RESOLVE), "resolve", False),
]


class LoopbackHub:
    """The Hub's state and faults, served on 127.0.0.1 while used as a context manager."""

    def __init__(self, tokens: dict[str, str], user: str = "tessy") -> None:
        self.tokens = tokens  # token -> "read" or "write"
        self.user = user
        self.repos: dict[str, Repo] = {}
        self.calls: Counter[str] = Counter()  # kind -> requests answered or dropped
        self.seen: list[bytes] = []  # every request's bytes, to check what crossed the wire
        self._faults: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LoopbackHub:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, kind: str, status: int, times: int = 1, page: bytes | None = None) -> None:
        """Answer the next `times` requests of `kind` with `status`, changing nothing: a JSON
        error as the Hub's, or the HTML `page` a proxy or gateway in front of it sends."""
        self._faults.append({"kind": kind, "status": status, "times": times, "page": page})

    def lose_response(self, kind: str) -> None:
        """Carry out the next request of `kind`, then close the connection unanswered."""
        self._faults.append({"kind": kind, "status": None, "times": 1, "page": None})

    def commit_titles(self, repo_id: str) -> list[str]:
        """The titles of `repo_id`'s commits, newest first."""
        return [commit.title for commit in reversed(self.repos[repo_id].commits)]

    def files_at(self, repo_id: str, revision: str) -> dict[str, bytes]:
        return self.repos[repo_id].resolve(revision).files

    # --- dispatch -----------------------------------------------------------------------

    def take_fault(self, kind: str) -> dict[str, Any] | None:
        with self._lock:
            for fault in self._faults:
                if fault["kind"] == kind and fault["times"] > 0:
                    fault["times"] -= 1
                    return fault
        return None

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of the answer to `request`."""
        handler: Callable[[Request], Any] = getattr(self, "_" + request.kind.replace("-", "_"))
        with self._lock:
            result = handler(request)
        if isinstance(result, tuple):
            return result
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()

    def check_access(self, request: Request, writes: bool) -> None:
        """Refuse an unknown token anywhere, and a write without write access."""
        if request.token is not None and request.token not in self.tokens:
            raise HubError(401, INVALID_TOKEN)
        if writes and request.token is None:
            raise HubError(401, "You must be authenticated to write")
        if writes and self.tokens[request.token] != "write":
            raise HubError(403, "You don't have the rights to write to this repository")

    def repo(self, request: Request) -> Repo:
        repo = self.repos.get(request.groups["repo"])
        if repo is None or (repo.private and request.token is None):
            status = 401 if request.token is None else 404
            raise HubError(status, "Repository not found", "RepoNotFound")
        return repo

    def commit_at(self, request: Request) -> tuple[Repo, Commit]:
        repo = self.repo(request)
        revision = unquote(request.groups.get("rev") or "main")
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo, commit

    # --- endpoints ----------------------------------------------------------------------

    def _create(self, request: Request) -> dict | tuple:
        payload = json.loads(request.body)
        if payload.get("type") != "dataset":
            raise HubError(400, "this loopback hub holds dataset repos only")
        repo_id = f"{payload['organization'] or self.user}/{payload['name']}"
        url = {"url": f"{self.url}/datasets/{repo_id}"}
        if repo_id in self.repos:
            body = {"error": "You already created this dataset repo", **url}
            return 409, {"Content-Type": "application/json"}, json.dumps(body).encode()
        private = payload.get("visibility", "public") == "private" or bool(payload.get("private"))
        repo = self.repos[repo_id] = Repo(repo_id, private)
        self._add_commit(repo, "initial commit", "", {".gitattributes": GITATTRIBUTES})
        return url

    def _validate_yaml(self, request: Request) -> dict | tuple:
        # The client checks a README.md's front matter here before it commits one.
        content = json.loads(request.body)["content"]
        front = re.match(r"---\n(.*?)\n---", content, flags=re.DOTALL)
        try:
            yaml.safe_load(front.group(1) if front else "")
        except yaml.YAMLError as error:
            body = {"errors": [{"message": str(error)}], "warnings": []}
            return 400, {"Content-Type": "application/json"}, json.dumps(body).encode()
        return {"errors": [], "warnings": []}

    def _refs(self, request: Request) -> dict:
        repo = self.repo(request)
        tags = [
            {"name": name, "ref": f"refs/tags/{name}", "targetCommit": oid}
            for name, oid in repo.tags.items()
        ]
        main = {"name": "main", "ref": "refs/heads/main", "targetCommit": repo.commits[-1].oid}
        return {"branches": [main], "converts": [], "tags": tags, "pullRequests": []}

    def _tree(self, request: Request) -> list[dict]:
        _, commit = self.commit_at(request)
        base = unquote(request.groups.get("path") or "").strip("/")
        recursive = request.query.get("recursive", ["false"])[0].lower() == "true"
        entries = _entries(commit)
        if base and base not in entries:
            raise HubError(404, f"{base} does not exist", "EntryNotFound")
        prefix = f"{base}/" if base else ""
        return [
            entry
            for path, entry in sorted(entries.items())
            if path.startswith(prefix) and (recursive or "/" not in path[len(prefix) :])
        ]

    def _paths_info(self, request: Request) -> list[dict]:
        _, commit = self.commit_at(request)
        entries = _entries(commit)
        paths = parse_qs(request.body.decode()).get("paths", [])
        return [entries[path] for path in paths if path in entries]

    def _preupload(self, request: Request) -> dict:
        _, commit = self.commit_at(request)
        files = json.loads(request.body)["files"]
        return {
            "files": [
                {
                    "path": item["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_blob_oid(commit.files[item["path"]])
                    if item["path"] in commit.files
                    else None,
                }
                for item in files
            ]
        }

    def _commit(self, request: Request) -> dict:
        repo, parent = self.commit_at(request)
        lines = [json.loads(line) for line in request.body.splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        files = dict(parent.files)
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                files = {p: data for p, data in files.items() if not p.startswith(folder)}
            elif key != "header":
                raise HubError(400, f"this loopback hub takes regular files only, not {key}")
        commit = self._add_commit(repo, header["summary"], header.get("description", ""), files)
        url = f"{self.url}/datasets/{repo.repo_id}/commit/{commit.oid}"
        return {"success": True, "commitOid": commit.oid, "commitUrl": url, "hookOutput": ""}

    def _tag(self, request: Request) -> dict:
        repo, commit = self.commit_at(request)
        tag = json.loads(request.body)["tag"]
        if tag in repo.tags:
            raise HubError(409, f"Tag {tag} already exists")
        repo.tags[tag] = commit.oid
        return {}

    def _commits(self, request: Request) -> list[dict]:
        repo, head = self.commit_at(request)
        history = repo.commits[: repo.commits.index(head) + 1]
        return [
            {
                "id": commit.oid,
                "title": commit.title,
                "message": commit.message,
                "authors": [{"user": self.user}],
                "date": commit.date,
            }
            for commit in reversed(history)
        ]

    def _info(self, request: Request) -> dict:
        repo, commit = self.commit_at(request)
        return {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.oid,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "createdAt": repo.commits[0].date,
            "lastModified": commit.date,
            "siblings": [{"rfilename": path} for path in sorted(commit.files)],
        }

    def _resolve(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        _, commit = self.commit_at(request)
        path = unquote(request.groups["path"])
        if path not in commit.files:
            raise HubError(404, "Entry not found", "EntryNotFound")
        data = commit.files[path]
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{git_blob_oid(data)}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("range", ""))
        if wanted is None:
            return 200, headers, data
        start = int(wanted.group(1))
        end = min(int(wanted.group(2) or len(data) - 1), len(data) - 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return 206, headers, data[start : end + 1]

    def _add_commit(self, repo: Repo, summary: str, description: str, files: dict) -> Commit:
        parent = repo.commits[-1].oid if repo.commits else ""
        oid = hashlib.sha1(
            json.dumps([parent, summary, description, sorted(map(git_blob_oid, files.values()))])
            .encode()
        ).hexdigest()  # fmt: skip
        message = f"{summary}\n\n{description}".strip()
        date = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        commit = Commit(oid, summary.splitlines()[0], message, files, date)
        repo.commits.append(commit)
        return commit


def _entries(commit: Commit) -> dict[str, dict]:
    """Every file and folder of a commit, as the tree and paths-info endpoints list them."""
    entries: dict[str, dict] = {}
    for path, data in commit.files.items():
        entries[path] = {"type": "file", "path": path, "size": len(data), "oid": git_blob_oid(data)}
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            oid = hashlib.sha1(f"{commit.oid}:{folder}".encode()).hexdigest()
            entries.setdefault(folder, {"type": "directory", "path": folder, "oid": oid, "size": 0})
    return entries


def _handler_for(hub: LoopbackHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as the client's connection pool expects; every answer sets its length.
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the tests read `hub.calls`; stderr stays quiet

        def _serve(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hub.seen.append(bytes(self.requestline, "latin-1") + bytes(self.headers) + body)
            split = urlsplit(self.path)
            route = _route(method, split.path)
            if route is None:
                self._send(404, {"X-Error-Message": f"no route {method} {split.path}"}, b"")
                return
            (kind, writes), groups = route
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
            request = Request(
                method, kind, groups, parse_qs(split.query),
                {k.lower(): v for k, v in self.headers.items()}, body, token,
            )  # fmt: skip
            fault = hub.take_fault(kind)
            hub.calls[kind] += 1
            if fault is not None and fault["page"] is not None:
                self._send(fault["status"], {"Content-Type": "text/html"}, fault["page"])
                return
            if fault is not None and fault["status"] is not None:
                message = f"loopback hub fault: {fault['status']} on {kind}"
                self._error(HubError(fault["status"], message))
                return
            try:
                hub.check_access(request, writes)
                status, headers, data = hub.answer(request)
            except HubError as error:
                self._error(error)
                return
            if fault is not None:  # lose_response: done, but the client never hears so
                self.close_connection = True
                return
            self._send(status, headers, data)

        def _error(self, error: HubError) -> None:
            headers = {"Content-Type": "application/json", "X-Error-Message": error.message}
            if error.code:
                headers["X-Error-Code"] = error.code
            self._send(error.status, headers, json.dumps({"error": error.message}).encode())

        def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler


def _route(method: str, path: str) -> tuple[tuple[str, bool], dict[str, str]] | None:
    for route_method, pattern, kind, writes in ROUTES:
        match = pattern.fullmatch(path)
        if route_method == method and match:
            return (kind, writes), {k: v for k, v in match.groupdict().items() if v is not None}
    return None


def point_clients_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point huggingface_hub, in this process and in the subprocesses it starts, at the
    loopback Hub at `url`, online."""
    monkeypatch.setenv("HF_ENDPOINT", url)
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    # huggingface_hub read these when conftest first imported it, so this process needs
    # them set where it keeps them; subprocesses read the environment.
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", url)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    # Downloads take their URL from a template made of the endpoint at import time.
    template = url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
