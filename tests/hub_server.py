"""A Hugging Face Hub on loopback, for the download tests: it serves model folders as repositories at one commit each
through the endpoints `huggingface_hub.snapshot_download` uses (revision info, the recursive tree, and each file's
`resolve` URL with its commit and ETag headers), and counts the requests. Point a process at it with
HF_ENDPOINT=http://127.0.0.1:PORT. `hub_cache` lays a model folder out as the cache holds a downloaded repository."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


class HubServer:
    """`repos`: {"org/name": (commit, folder)}. Use as a context manager; `url` is its endpoint."""

    def __init__(self, repos: dict[str, tuple[str, Path]]):
        self.repos, self.requests = repos, []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub.requests.append(("HEAD", self.path))
                self._answer(body=False)

            def do_GET(self):
                hub.requests.append(("GET", self.path))
                self._answer(body=True)

            def _answer(self, body: bool):
                path = unquote(urlparse(self.path).path)
                parts = path.strip("/").split("/")
                if parts[:2] == ["api", "models"] and len(parts) >= 6:
                    repo, what = "/".join(parts[2:4]), parts[4]
                    if repo in hub.repos and what == "revision":
                        commit, folder = hub.repos[repo]
                        return self._json({"id": repo, "sha": commit, "private": False,
                                           "siblings": [{"rfilename": f} for f in hub.files(folder)]}, body)
                    if repo in hub.repos and what == "tree":
                        _, folder = hub.repos[repo]
                        return self._json([{"type": "file", "path": f, "size": (folder / f).stat().st_size,
                                            "oid": hub.oid(folder / f)} for f in hub.files(folder)], body)
                if len(parts) >= 5 and parts[2] == "resolve":
                    repo, name = "/".join(parts[:2]), "/".join(parts[4:])
                    if repo in hub.repos and (hub.repos[repo][1] / name).is_file():
                        commit, folder = hub.repos[repo]
                        data = (folder / name).read_bytes()
                        self.send_response(200)
                        self.send_header("X-Repo-Commit", commit)
                        self.send_header("ETag", f'"{hub.oid(folder / name)}"')
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        if body:
                            self.wfile.write(data)
                        return
                self.send_response(404)
                self.send_header("X-Error-Code", "RepoNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _json(self, value, body: bool):
                data = json.dumps(value).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def files(folder: Path) -> list[str]:
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())

    @staticmethod
    def oid(path: Path) -> str:
        return hashlib.sha1(path.read_bytes()).hexdigest()

    def __enter__(self) -> HubServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def hub_cache(home: Path, model: Path, commit: str, repo_id: str = "tiny-org/tiny-llama") -> Path:
    """The model as the Hugging Face cache holds a downloaded repository: a snapshot folder named by its commit and
    refs/main pointing at it."""
    repo = home / "hub" / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(model, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return repo / "snapshots" / commit
