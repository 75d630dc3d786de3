"""``scriptflow serve`` as a real subprocess on a free port, and a tiny HTTP client for the tests."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

from conftest import wait_until


class Served:
    """A running ``scriptflow serve --port 0`` in a project; ``get`` fetches a page."""

    def __init__(self, project) -> None:
        self.proc = project.popen("serve", "--port", "0")
        line = self.proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"serve printed {line!r}; stderr: {self.proc.stderr.read() if self.proc.poll() else ''}"
        self.base = f"http://127.0.0.1:{match.group(1)}"

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=30) as r:
                return r.status, dict(r.headers), r.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode("utf-8")

    def json(self, path: str) -> Any:
        status, headers, body = self.get(path)
        assert status == 200 and headers["Content-Type"] == "application/json", (status, body)
        return json.loads(body)

    def close(self) -> None:
        self.proc.terminate()
        wait_until(lambda: self.proc.poll() is not None, "scriptflow serve to stop", timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()
