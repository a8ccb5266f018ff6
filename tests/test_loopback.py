"""Stopping the servers `running_all` started: every process of each server's group goes,
even one that ignores SIGTERM after its leader has exited at once, as vLLM's engine may."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from tessy_factory.engine.loopback import Launch, running_all

# A server whose leader answers /health and dies on SIGTERM, and whose child, in its
# process group, ignores SIGTERM and writes its pid to the file named by the model dir.
SERVER = """
import http.server, subprocess, sys
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open(sys.argv[1], "w").write(str(child.pid))
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), Health).serve_forever()
"""

LAUNCH = Launch(
    "scripted",
    lambda model_dir, port, threads: [sys.executable, "-c", SERVER, model_dir, str(port)],
    lambda threads: {},
    ready_timeout_s=30,
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; it waits only for its new parent to reap it.
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


def test_stopping_servers_ends_the_processes_their_leaders_leave_behind(tmp_path):
    pid_files = [str(tmp_path / f"child-{i}") for i in range(2)]
    started = time.monotonic()
    with running_all(LAUNCH, pid_files):
        children = [int(Path(name).read_text()) for name in pid_files]
        assert all(map(alive, children))
    deadline = time.monotonic() + 5
    while any(map(alive, children)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(alive, children))
    # Stopped at once, not after the 10 s each leader would be given to exit.
    assert time.monotonic() - started < 10
