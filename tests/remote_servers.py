"""Servers on loopback for the remote-path tests: moto's S3 API, and a static HTTP server that answers
range requests (Python's `http.server` does not) and can drop the connection mid-file."""
from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    """What the HTTP server did: one (path, Range header or None, bytes sent) per GET."""

    gets: list[tuple[str, str | None, int]] = field(default_factory=list)
    drop_from: int | None = None  # a GET for a range starting at or past this byte: connection closed, no answer
    ranges: bool = True  # False: Range headers ignored, the whole file sent, as `python -m http.server` does


class RangeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path):
        self.root, self.served = root, Served()
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(args[2].root), **kwargs)

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        if self.server.served.ranges:
            self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        header = self.headers.get("Range")
        start, end = 0, len(data)
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", header or "") if self.server.served.ranges else None
        if m:
            start = int(m.group(1))
            end = min(len(data), int(m.group(2)) + 1) if m.group(2) else len(data)
        served = self.server.served
        if served.drop_from is not None and start >= served.drop_from:
            served.gets.append((self.path, header, 0))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # the network fails: no answer at all
            return
        if m and start >= len(data):
            self.send_error(416)
            return
        body = data[start:end]
        self.send_response(206 if m else 200)
        self.send_header("Content-Length", str(len(body)))
        if served.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if m:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.end_headers()
        self.wfile.write(body)
        served.gets.append((self.path, header, len(body)))


class CuttingProxy:
    """A TCP relay on loopback to `port` that cuts the network once `budget` bytes have come back
    through it: the connection carrying that byte is closed mid-answer, and every later one at once."""

    def __init__(self, port: int, budget: int):
        self.port, self.budget, self.sent = port, budget, 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.sent >= self.budget:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.port))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, counted: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if counted:
                    with self.lock:
                        room = self.budget - self.sent
                        self.sent += len(data)
                    if room < len(data):
                        dst.sendall(data[: max(0, room)])
                        break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def stop(self) -> None:
        self.closed = True
        self.listener.close()


def aws_env(endpoint: str) -> dict[str, str]:
    """Credentials for moto and nothing from this machine's own AWS set-up."""
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_SHARED_CREDENTIALS_FILE": _NOWHERE, "AWS_CONFIG_FILE": _NOWHERE}


_NOWHERE = os.path.join(tempfile.gettempdir(), "loganalyze-tests-no-such-aws-file")  # /dev/null: a parse error


AWS_UNSET = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
"""Set on a developer's machine, these would send the tests' requests elsewhere."""
