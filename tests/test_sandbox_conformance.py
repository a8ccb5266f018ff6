"""The sandbox conformance suite: each hostile program of the issue's list, in each sandbox layer
that works here, ends with the right verdict, leaves no process behind and leaves the host
untouched. Also: the self-check passes for the real layers and catches the unsafe one."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tessy_factory.config import VerificationConfig
from tessy_factory.verify.judge import Judge, Verdict
from tessy_factory.verify.sandbox import (
    _THREAD,
    _UIDS,
    SANDBOX_UID_BASE,
    BubblewrapSandbox,
    Limits,
    UnsafeSandbox,
    layer_problem,
)
from tessy_factory.verify.selfcheck import IsolationRegressed, ensure_isolation

LAYERS = [
    pytest.param(name, marks=pytest.mark.skipif(bool(layer_problem(name)), reason=f"{name} off"))
    for name in ("bubblewrap", "unshare")
]
ADD = {"style": "stdio", "cases": [{"input": "1 2\n", "output": "3\n"}]}
SECRET = f"hf_{secrets.token_hex(12)}"
MARKER = f"{400 + secrets.randbelow(10**6) / 10**6:.6f}"  # `sleep MARKER` marks our processes


def sample(code: str) -> str:
    return f"<think>\nhostile\n</think>\n\n```python\n{code}\n```\n"


def leftovers() -> list[str]:
    """Processes a run may have left: our marked sleepers, and anything of a sandbox uid
    but the sandbox servers."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
            uid = int(Path(entry.path, "status").read_text().split("Uid:")[1].split()[0])
        except (OSError, IndexError):
            continue
        # The bubblewrap layer's sandbox servers run as sandbox uids between runs, by design.
        serving = cmdline.endswith(b"--serve\0")
        if MARKER.encode() in cmdline or (uid >= SANDBOX_UID_BASE and not serving):
            found.append(f"{entry.name}: {cmdline!r}")
    return found


def no_leftovers(within_s: float = 2.0) -> list[str]:
    deadline = time.monotonic() + within_s
    while (left := leftovers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.fixture(scope="module", params=LAYERS)
def judge(request) -> Judge:
    config = VerificationConfig(
        sandbox=request.param, time_limit_s=1.0, memory_mb=256, output_limit_bytes=1_000_000
    )
    return Judge.from_config(config)


ESCAPES = ("/tmp", "/var/tmp", "/dev/shm")
CASES = {
    "infinite loop": ("while True:\n    pass", Verdict.TIME_LIMIT),
    "sleep past the wall limit, SIGTERM ignored": (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)",
        Verdict.TIME_LIMIT,
    ),
    "fork bomb": ("import os\nwhile True:\n    os.fork()", Verdict.RUNTIME_ERROR),
    "thread bomb": (
        "import threading, time\nwhile True:\n"
        "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()",
        Verdict.RUNTIME_ERROR,
    ),
    "10 GB allocation": ("x = bytearray(10 * 1024**3)\nprint(3)", Verdict.MEMORY_LIMIT),
    "1 GB file": (
        "with open('big', 'wb') as f:\n    for _ in range(1024):\n"
        "        f.write(b'x' * 1024**2)\nprint(3)",
        Verdict.OUTPUT_LIMIT,
    ),
    "1 GB to stdout": (
        "import sys\nfor _ in range(1024):\n    sys.stdout.write('x' * 1024**2)",
        Verdict.OUTPUT_LIMIT,
    ),
    "exits 0 without output": ("pass", Verdict.WRONG_ANSWER),
    # Its parent is the supervisor, PID 1 of the sandbox: the kernel drops the signal, and
    # the program goes on to answer.
    "kills its parent": (
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
        "a, b = map(int, input().split())\nprint(a + b)",
        Verdict.ACCEPTED,
    ),
    "kills every process it may": (
        "import os, signal, time\nos.kill(-1, signal.SIGKILL)\ntime.sleep(5)",
        Verdict.RUNTIME_ERROR,
    ),
    "double-forked daemon": (
        "import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        os.execv('/bin/sleep', ['sleep', '{MARKER}'])\n    os._exit(0)\nos.wait()",
        Verdict.WRONG_ANSWER,
    ),
    # The secret is set in the judge's environment (below); the program looks for it in its
    # own environment and in every process's it can see.
    "reads an environment secret": (
        "import os, glob\nseen = os.environ.get('HF_TOKEN', '')\n"
        "for path in glob.glob('/proc/*/environ'):\n    try:\n"
        "        seen += open(path, 'rb').read().decode(errors='replace')\n"
        "    except OSError:\n        pass\n"
        f"print(3 if '{SECRET}' not in seen else 'leaked')",
        Verdict.ACCEPTED,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_hostile_program_is_contained(judge: Judge, case: str, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    code, verdict = CASES[case]
    started = time.monotonic()
    # A new thread starts its own sandbox server, with the secret already in the environment.
    with ThreadPoolExecutor(1) as new_thread:
        got = new_thread.submit(judge.judge, sample(code), ADD).result()
    assert got.verdict == verdict, got.detail
    assert time.monotonic() - started < 10
    assert no_leftovers() == []


def test_the_unsafe_layer_ends_what_a_program_left_running_when_it_exits() -> None:
    program = f"import subprocess\nsubprocess.Popen(['sleep', '{MARKER}'])\nprint(3)"
    unsafe = Judge.from_config(VerificationConfig(sandbox="unsafe"))
    assert unsafe.judge(sample(program), ADD).verdict == Verdict.ACCEPTED
    assert no_leftovers() == []


def test_the_sandbox_cannot_reach_a_port_of_the_host(judge: Judge) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)"
        got = judge.judge(sample(code), ADD)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert got.verdict == Verdict.RUNTIME_ERROR
    assert "ConnectionRefusedError" in got.detail or "OSError" in got.detail


def test_writes_outside_the_scratch_space_never_reach_the_host(judge: Judge, tmp_path) -> None:
    tmp_path.chmod(0o755)
    targets = [tmp_path / "escaped", *(Path(d) / f"tessy-escape-{MARKER}" for d in ESCAPES)]
    code = "import sys\nfor path in sys.argv[1:] or TARGETS:\n    try:\n"
    code += "        open(path, 'w').write('x')\n    except OSError:\n        pass\nprint(3)"
    code = code.replace("TARGETS", repr([str(t) for t in targets]))
    assert judge.judge(sample(code), ADD).verdict == Verdict.ACCEPTED
    assert [t for t in targets if t.exists()] == []


def test_a_host_process_survives_the_sandboxed_kill_all(judge: Judge) -> None:
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        judge.judge(sample(CASES["kills every process it may"][0]), ADD)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_self_check_passes_in_a_real_sandbox(judge: Judge) -> None:
    ensure_isolation(judge.sandbox, judge.limits, "python3")


def test_self_check_stops_a_build_without_isolation(monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    limits = Judge.from_config(VerificationConfig(sandbox="unsafe")).limits
    with pytest.raises(IsolationRegressed) as raised:
        ensure_isolation(UnsafeSandbox(), limits, "python3")
    message = str(raised.value)
    assert "connected to the judge's port" in message
    assert "wrote " in message
    if os.geteuid() == 0:  # as root, nothing keeps the program out of the checker's memory
        assert "could open the checker's AssertionError: ['mem', 'fd/0', 'environ']" in message


def test_two_processes_never_run_programs_as_the_same_uid() -> None:
    """Sandbox uids are claimed host-wide, so another factory process gets other ones."""
    holder = (
        "import sys, time\nfrom tessy_factory.verify.sandbox import _UIDS\n"
        "with _UIDS.lease() as uid:\n    print(uid, flush=True)\n    time.sleep(30)\n"
    )
    other = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        theirs = int(other.stdout.readline())
        with _UIDS.lease() as first, _UIDS.lease() as second:
            assert theirs not in (first, second) and first != second
    finally:
        other.kill()
        other.wait()


BUBBLEWRAP = pytest.mark.skipif(bool(layer_problem("bubblewrap")), reason="bubblewrap off")
LIMITS = Limits(time_limit_s=2.0, memory_mb=256, output_limit_bytes=64 * 1024)


def run_python(sandbox: BubblewrapSandbox, code: str):
    return sandbox.run(["python3", "-I", "main.py"], {"main.py": code.encode()}, b"", LIMITS)


@BUBBLEWRAP
def test_programs_sharing_a_sandbox_server_see_nothing_of_each_other() -> None:
    sandbox = BubblewrapSandbox()
    leave = (
        "import os, socket\n"
        "for path in ('/tmp/left', '/dev/shm/left', '/left', '/dev/left'):\n"
        "    try:\n        open(path, 'w').write('x')\n    except OSError:\n        pass\n"
        "s = socket.socket(socket.AF_UNIX)\ns.bind('\\0tessy-left')\ns.listen()\n"
        f"if os.fork() == 0:\n    os.execv('/bin/sleep', ['sleep', '{MARKER}'])\n"
    )
    assert run_python(sandbox, leave).exit_code == 0
    look = (
        "import os, socket\n"
        "print([p for p in ('/tmp/left', '/dev/shm/left', '/left', '/dev/left') "
        "if os.path.exists(p)])\n"
        "try:\n    socket.socket(socket.AF_UNIX).connect('\\0tessy-left')\n"
        "    print('connected')\nexcept OSError:\n    print('alone')\n"
        "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
    )
    got = run_python(sandbox, look)
    assert got.stdout.decode().split("\n")[:3] == ["[]", "alone", "[1, 2]"]
    assert no_leftovers() == []


@BUBBLEWRAP
def test_a_dead_sandbox_server_is_replaced() -> None:
    sandbox = BubblewrapSandbox()
    assert run_python(sandbox, "print(1)").stdout == b"1\n"
    server = _THREAD.server
    os.killpg(server.process.pid, 9)
    server.process.wait()
    assert run_python(sandbox, "print(2)").stdout == b"2\n"
    assert _THREAD.server is not server


KEYCTL = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)


@pytest.mark.skipif(KEYCTL is None, reason="keyctl's number is known for x86_64 and aarch64")
def test_kernel_keyrings_are_out_of_reach(judge: Judge) -> None:
    # keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, create): the uid's own keyring,
    # which would outlive the program and reach the next one of the same uid.
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"print(libc.syscall({KEYCTL}, 0, -4, 1), ctypes.get_errno())"
    )
    tests = {"style": "stdio", "cases": [{"input": "", "output": "-1 38"}]}  # ENOSYS
    got = judge.judge(sample(code), tests)
    assert got.verdict == Verdict.ACCEPTED, got.detail
