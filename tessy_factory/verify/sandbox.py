"""The sandbox: run one untrusted program, default-deny, under resource limits.

Three layers, strongest first (see design.md):

- `bubblewrap`: every namespace unshared (no network, own PIDs, own mounts), a read-only view
  of the system directories only (no home, no /etc beyond the loader's cache and
  /etc/alternatives, no factory files), a private size-capped tmpfs as scratch, uid 65534
  with no capabilities, a cleared environment, and it dies with the judge. As root, bwrap
  itself is first dropped to an unprivileged uid with `setpriv`: a user namespace made by
  root maps the program to host root, which could read root's files and write /proc/sys.
  One such sandbox serves each judging thread (`_Server`); each program in it gets fresh
  mount, PID, IPC, UTS and network namespaces and a fresh scratch tmpfs.
- `unshare`: own network, PID, mount, IPC and UTS namespaces, then `setpriv` to an
  unprivileged uid. /tmp is its scratch directory; /var/tmp, /dev/shm and /run are empty.
  Elsewhere the program sees the host's files as that uid does, and could write to any
  other world-writable directory. Needs root.
- `unsafe`: limits and a cleared environment only, as the judge's own user. Chosen only when
  the user asks for it by name. The process limit counts all of that user's processes, and
  a program that starts a new session outlives the run.

Whatever the layer, the chain ends in the supervisor (`supervise.c`), which forks the program
with its rlimits, ends it at the wall-clock limit and reports its status and resource usage
on a pipe. In the first two layers the supervisor is PID 1 of the program's PID namespace, so
the program cannot signal it, and every process the program started dies with it. The
bubblewrap layer starts its chain once per thread: the supervisor's `--serve` mode.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import functools
import json
import math
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from tessy_factory.verify.supervisor import supervisor_binary

MIB = 1024 * 1024
PAGE = 4096
SANDBOX_PATH = "/usr/bin:/bin"
CHILD_ENV = {"PATH": SANDBOX_PATH, "LANG": "C.UTF-8"}
STDERR_TAIL_BYTES = 4096
READ_CHUNK_BYTES = 64 * 1024
# The supervisor enforces the time limit; the judge steps in only when the sandbox itself is
# stuck, this long after the limit.
BACKSTOP_S = 2.0
# After the sandbox exits, the pipes may still be held by an escaped process (unsafe layer);
# read what is left for at most this long.
DRAIN_S = 0.5
# Host uids the programs run as when the judge is root: one per program running at once, so
# RLIMIT_NPROC (counted per host uid without a user namespace) is per program. Far above
# the uids of people and of subordinate-uid ranges.
SANDBOX_UID_BASE = 2_000_000_000
UID_LOCK_DIR = "tessy-sandbox-uids"
# Inside bubblewrap: where the scratch tmpfs and the supervisor are.
BWRAP_WORKDIR = "/tmp"
BWRAP_SUPERVISOR = "/supervise"
SUPERVISOR_COPY = ".supervise"
REQUEST_MAGIC = 0x7465737379303031  # supervise.c's REQUEST_MAGIC
# System directories shown to bubblewrapped programs, read-only; a symlink (merged /usr)
# is recreated as a symlink.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/alternatives")
# Directories the unshare layer covers with an empty tmpfs: the world-writable ones, and /run
# with the host's sockets (D-Bus, nscd) that a network namespace does not cut off.
SHARED_WRITABLE = ("/var/tmp", "/dev/shm", "/run")


class SandboxUnavailable(RuntimeError):
    """No sandbox layer that was asked for works on this machine; the message says why."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for one run of a program."""

    time_limit_s: float
    memory_mb: int
    output_limit_bytes: int
    cpu_time_s: float | None = None  # default: the wall limit plus one second
    file_size_mb: int = 16
    max_processes: int = 64
    max_open_files: int = 64
    scratch_mb: int = 64

    def cpu_seconds(self) -> int:
        return math.ceil(self.cpu_time_s or self.time_limit_s + 1)


@dataclass(frozen=True)
class RunResult:
    """What one run did, as the supervisor measured it. `exit_code` is None when a signal
    ended the program."""

    exit_code: int | None
    signal: int | None
    stdout: bytes
    stderr_tail: str
    wall_s: float
    cpu_s: float
    peak_memory_mb: float
    timed_out: bool
    output_limited: bool


@dataclass(frozen=True)
class _Launch:
    """How one layer starts the supervisor: the command before it, where it is, and where
    the program runs."""

    prefix: list[str]
    supervisor: str
    cwd: str


class _UidPool:
    """Hands each concurrent run a host uid of its own (see SANDBOX_UID_BASE).

    A uid is claimed host-wide with a lock file that this process holds until it exits, so
    two factory processes (or Dask and Ray workers) never run programs as the same uid. The
    oldest free uid is reused first, giving a finished run's namespace time to wind down.
    """

    def __init__(self) -> None:
        self._free: collections.deque[int] = collections.deque()
        self._next = SANDBOX_UID_BASE
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def lease(self) -> Iterator[int]:
        uid = self.take()
        try:
            yield uid
        finally:
            self.give_back(uid)

    def take(self) -> int:
        with self._lock:
            return self._free.popleft() if self._free else self._claim()

    def give_back(self, uid: int) -> None:
        with self._lock:
            self._free.append(uid)

    def _claim(self) -> int:
        locks = Path(tempfile.gettempdir(), UID_LOCK_DIR)
        locks.mkdir(mode=0o755, exist_ok=True)
        while True:
            uid, self._next = self._next, self._next + 1
            fd = os.open(locks / str(uid), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return uid  # the fd stays open: the claim lasts as long as this process


_UIDS = _UidPool()
# Each judging thread's sandbox server (bubblewrap).
_THREAD = threading.local()


@dataclass(frozen=True)
class Sandbox(ABC):
    """One isolation layer. `run` is safe to call from several threads at once."""

    name: ClassVar[str]

    @abstractmethod
    def run(
        self, argv: list[str], files: Mapping[str, bytes], stdin: bytes, limits: Limits
    ) -> RunResult:
        """Run `argv` in a fresh workspace holding `files`; OSError when the sandbox fails."""


@dataclass(frozen=True)
class _SpawnedSandbox(Sandbox):
    """A layer that starts a new chain of processes, ending in the supervisor, per run."""

    scratch_root: str = field(default_factory=tempfile.gettempdir)

    def run(
        self, argv: list[str], files: Mapping[str, bytes], stdin: bytes, limits: Limits
    ) -> RunResult:
        with contextlib.ExitStack() as stack:
            uid = stack.enter_context(_UIDS.lease()) if os.geteuid() == 0 else None
            launch = self._launch(stack, files, limits, uid)
            stdin_fd = stack.enter_context(_memory_file(stdin))
            return _supervised(launch, argv, stdin_fd, limits)

    @abstractmethod
    def _launch(
        self,
        stack: contextlib.ExitStack,
        files: Mapping[str, bytes],
        limits: Limits,
        uid: int | None,
    ) -> _Launch: ...

    def _scratch_with(
        self, stack: contextlib.ExitStack, files: Mapping[str, bytes], uid: int | None
    ) -> str:
        """A fresh host directory holding `files`, owned by the program's uid."""
        scratch = tempfile.mkdtemp(prefix="tessy-run-", dir=self.scratch_root)
        stack.callback(shutil.rmtree, scratch, ignore_errors=True)
        for name, data in files.items():
            path = Path(scratch, name)
            path.write_bytes(data)
            path.chmod(0o755)
        if uid is not None:
            os.chown(scratch, uid, uid)
        return scratch


class BubblewrapSandbox(Sandbox):
    """Programs run through a sandbox server, one per judging thread (see `_Server`)."""

    name = "bubblewrap"

    def run(
        self, argv: list[str], files: Mapping[str, bytes], stdin: bytes, limits: Limits
    ) -> RunResult:
        server = getattr(_THREAD, "server", None)
        if server is None or not server.alive():
            server = _THREAD.server = _Server()
        return server.run(argv, files, stdin, limits)


class _Server:
    """A long-lived bubblewrap sandbox whose PID 1 is `supervise --serve`.

    Its user and cgroup namespaces and its read-only view of the system are made once (they
    cost more than a Python start); each program gets its own mount, PID, IPC, UTS and
    network namespaces, a fresh tmpfs at /tmp and /dev/shm, and no capabilities
    (supervise.c). The server holds CAP_SYS_ADMIN and CAP_SETPCAP in its own user namespace
    only, to make those namespaces and mounts. A server that fails or gets stuck is killed;
    the next run starts a new one.
    """

    def __init__(self) -> None:
        self.uid = _UIDS.take() if os.geteuid() == 0 else None
        # What bwrap says when it fails; kept, and closed, with the server.
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        command = [*_drop_to(self.uid), *self._bwrap()] if self.uid is not None else self._bwrap()
        try:
            with theirs:
                self.process = subprocess.Popen(
                    command,
                    stdin=theirs,
                    stdout=subprocess.DEVNULL,
                    stderr=self.errors,
                    cwd="/",
                    env=CHILD_ENV,
                    start_new_session=True,
                )
        except BaseException:
            ours.close()
            self.errors.close()
            if self.uid is not None:
                _UIDS.give_back(self.uid)
            raise
        self.socket = ours
        # Runs once: when the server fails, or when its thread ends, or at exit.
        self.stop = weakref.finalize(
            self, _stop_server, self.socket, self.process, self.uid, self.errors
        )

    @staticmethod
    def _bwrap() -> list[str]:
        return [
            "bwrap",
            "--unshare-all",
            "--unshare-user",
            "--uid", "65534",
            "--gid", "65534",
            "--disable-userns",
            "--cap-drop", "ALL",
            "--cap-add", "CAP_SYS_ADMIN",
            "--cap-add", "CAP_SETPCAP",
            "--clearenv",
            *_setenv(CHILD_ENV),
            "--die-with-parent",
            "--new-session",
            "--as-pid-1",
            *_system_view(),
            "--proc", "/proc",
            "--dev", "/dev",
            "--remount-ro", "/dev",
            "--dir", BWRAP_WORKDIR,
            "--ro-bind", supervisor_binary(), BWRAP_SUPERVISOR,
            "--remount-ro", "/",
            BWRAP_SUPERVISOR,
            "--serve",
        ]  # fmt: skip

    def alive(self) -> bool:
        return self.process.poll() is None

    def run(
        self, argv: list[str], files: Mapping[str, bytes], stdin: bytes, limits: Limits
    ) -> RunResult:
        payload = _request_payload(argv, files)
        header = _request_header(limits, _page_bytes(files), len(payload), len(argv), len(files))
        with contextlib.ExitStack() as stack:
            ours, theirs = [], []
            stack.callback(_close_all, theirs)
            for _ in range(3):  # stdout, stderr, report
                read_end, write_end = os.pipe()
                theirs.append(write_end)
                ours.append(stack.enter_context(open(read_end, "rb", buffering=0)))
            stdin_fd = stack.enter_context(_memory_file(stdin))
            stdout, stderr, report = ours
            try:
                socket.send_fds(self.socket, [header], [stdin_fd, *theirs])
                self.socket.sendall(payload)
                # The server holds its own copies; ours would keep the pipes from ending.
                _close_all(theirs)
                deadline = time.monotonic() + limits.time_limit_s + BACKSTOP_S
                captured = _capture(
                    stdout, stderr, self.socket, deadline, limits.output_limit_bytes
                )
                outcome = b"" if captured.stuck else self.socket.recv(1)
            except BaseException as exc:
                # Half a request leaves the protocol out of step: this server is done.
                failure = self._failed(f"the sandbox server failed mid-request ({exc!r})")
                if isinstance(exc, Exception):
                    raise failure from exc
                raise
            if outcome != b"\0":
                why = "got stuck" if captured.stuck else f"failed (step {outcome!r})"
                raise self._failed(f"the sandbox server {why}")
            return _result(report.read(), argv, captured, limits)

    def _failed(self, why: str) -> OSError:
        """Stop this server (the thread's next run starts another) and say why it failed."""
        _kill_group(self.process.pid)
        self.process.wait()
        self.errors.seek(0)
        said = self.errors.read().decode("utf-8", errors="replace").strip()
        self.stop()
        return OSError(f"{why}: {said}" if said else why)


def _stop_server(sock, process, uid, errors) -> None:
    sock.close()
    if process.poll() is None:
        # Not reaped yet, so its group id cannot belong to anyone else.
        _kill_group(process.pid)
        process.wait()
    if uid is not None:
        _UIDS.give_back(uid)
    errors.close()


def _page_bytes(files: Mapping[str, bytes]) -> int:
    """What `files` take in a tmpfs, in whole pages."""
    return sum(-(-len(data) // PAGE) * PAGE for data in files.values())


def _request_header(
    limits: Limits, files_bytes: int, payload_len: int, argc: int, nfiles: int
) -> bytes:
    """`struct request` of supervise.c. The scratch tmpfs holds the program's files on top
    of its own `scratch_mb`: a large C++ binary must not leave it no room, or not fit."""
    return struct.pack(
        "=Q6Q2Q2I",
        REQUEST_MAGIC,
        max(1, round(limits.time_limit_s * 1000)),
        limits.cpu_seconds(),
        limits.memory_mb * MIB,
        limits.file_size_mb * MIB,
        limits.max_processes,
        limits.max_open_files,
        limits.scratch_mb * MIB + files_bytes,
        payload_len,
        argc,
        nfiles,
    )


def _request_payload(argv: list[str], files: Mapping[str, bytes]) -> bytes:
    """`argv` and `files` as supervise.c reads them; ValueError for a NUL in an argument or
    file name, or a file name that is not a plain name."""
    for text in [*argv, *files]:
        if "\0" in text:
            raise ValueError(f"NUL character in {text!r}")
    if bad := [name for name in files if "/" in name or name in ("", ".", "..")]:
        raise ValueError(f"file names must be plain names, got {bad}")
    parts = [arg.encode() + b"\0" for arg in argv]
    for name, data in files.items():
        parts += [name.encode() + b"\0", struct.pack("=Q", len(data)), data]
    return b"".join(parts)


class UnshareSandbox(_SpawnedSandbox):
    name = "unshare"

    def _launch(self, stack, files, limits, uid):
        if uid is None:
            raise OSError("the unshare sandbox needs root, to drop the program to another uid")
        namespaces = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
        namespaces += ["--ipc", "--uts"]
        # The supervisor travels in the scratch directory: /tmp, where it was built, is
        # hidden from the program.
        supervisor = Path(supervisor_binary()).read_bytes()
        scratch = self._scratch_with(stack, {**files, SUPERVISOR_COPY: supervisor}, uid)
        # In the new mount namespace, before dropping root: the scratch directory becomes
        # /tmp, and the usual world-writable places and /run get empty tmpfs.
        mounts = [f'mount --bind "$0" {BWRAP_WORKDIR}']
        mounts += [f"mount -t tmpfs -o size=1m tmpfs {path}" for path in _shared_writable()]
        shell = [
            "sh",
            "-c",
            " && ".join([*mounts, f"cd {BWRAP_WORKDIR}", "unset OLDPWD PWD", 'exec "$@"']),
            scratch,
        ]
        supervisor_path = f"{BWRAP_WORKDIR}/{SUPERVISOR_COPY}"
        return _Launch([*namespaces, *shell, *_drop_to(uid)], supervisor_path, "/")


class UnsafeSandbox(_SpawnedSandbox):
    name = "unsafe"

    def _launch(self, stack, files, limits, uid):
        return _Launch([], supervisor_binary(), self._scratch_with(stack, files, None))


LAYERS: dict[str, type[Sandbox]] = {
    layer.name: layer for layer in (BubblewrapSandbox, UnshareSandbox, UnsafeSandbox)
}


def open_sandbox(kind: str) -> Sandbox:
    """The sandbox layer `kind` (or the strongest that works, for "auto").

    SandboxUnavailable names each layer tried and why it does not work. "unsafe" is never
    picked by "auto": running untrusted code without isolation must be asked for by name.
    """
    if kind == "auto":
        problems = {}
        for name in ("bubblewrap", "unshare"):
            problem = layer_problem(name)
            if problem is None:
                return LAYERS[name]()
            problems[name] = problem
        tried = "; ".join(f"{name}: {problem}" for name, problem in problems.items())
        raise SandboxUnavailable(
            f"no sandbox works here ({tried}). Install bubblewrap (apt-get install bubblewrap), "
            "or set verification.sandbox: unsafe to run generated code without isolation"
        )
    if kind not in LAYERS:
        raise SandboxUnavailable(f"unknown sandbox {kind!r}: use one of auto, {', '.join(LAYERS)}")
    if (problem := layer_problem(kind)) is not None:
        raise SandboxUnavailable(f"the {kind} sandbox does not work here: {problem}")
    return LAYERS[kind]()


@functools.cache
def layer_problem(kind: str) -> str | None:
    """Why the layer `kind` cannot run a program here, or None when it can."""
    tool = {"bubblewrap": "bwrap", "unshare": "unshare"}.get(kind)
    if tool is not None and shutil.which(tool) is None:
        return f"{tool} is not installed"
    if kind == "unshare" and os.geteuid() != 0:
        return "it needs root"
    limits = Limits(time_limit_s=10, memory_mb=256, output_limit_bytes=1024)
    try:
        result = LAYERS[kind]().run(["true"], {}, b"", limits)
    except OSError as exc:
        return str(exc)
    if result.exit_code != 0:
        return f"a trivial program failed: {result.stderr_tail.strip() or result}"
    return None


def _supervised(launch: _Launch, argv: list[str], stdin_fd: int, limits: Limits) -> RunResult:
    """Start the layer's chain of processes, ending in the supervisor, and capture the run."""
    report_read, report_write = os.pipe()
    command = [
        *launch.prefix,
        launch.supervisor,
        str(max(1, round(limits.time_limit_s * 1000))),
        str(report_write),
        str(limits.cpu_seconds()),
        str(limits.memory_mb * MIB),
        str(limits.file_size_mb * MIB),
        str(limits.max_processes),
        str(limits.max_open_files),
        "--",
        *argv,
    ]
    with open(report_read, "rb") as report:
        try:
            proc = subprocess.Popen(
                command,
                stdin=stdin_fd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=launch.cwd,
                env=CHILD_ENV,
                start_new_session=True,
                pass_fds=(report_write,),
            )
        finally:
            # The supervisor holds its own copy; ours would keep the pipe from ever ending.
            os.close(report_write)
        exited = os.pidfd_open(proc.pid)
        try:
            deadline = time.monotonic() + limits.time_limit_s + BACKSTOP_S
            captured = _capture(
                proc.stdout, proc.stderr, exited, deadline, limits.output_limit_bytes
            )
        finally:
            os.close(exited)
            # The group id stays reserved until the chain's first process is reaped, so this
            # cannot hit an unrelated process.
            _kill_group(proc.pid)
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        if captured.stuck:
            # The supervisor ends every run at its wall limit; a sandbox still there is stuck.
            raise OSError(f"the sandbox did not end {BACKSTOP_S:g} s after the wall limit")
        measured = report.read()
    if not measured:
        raise OSError(f"the sandbox failed (exit {proc.returncode}): {captured.stderr_text}")
    return _result(measured, argv, captured, limits)


@dataclass(frozen=True)
class _Captured:
    stdout: bytes
    stderr_text: str
    output_limited: bool
    stuck: bool


def _capture(stdout, stderr, done, deadline: float, output_limit: int) -> _Captured:
    """Read `stdout` and `stderr` until both are closed, or until a moment after `done` (a
    pidfd or socket) becomes readable, or until `deadline` (then the run is stuck). Past
    `output_limit` bytes the judge closes its end of stdout, so the program dies of a broken
    pipe or of its time limit."""
    out, err = bytearray(), bytearray()
    output_limited = finished = False
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ, "stdout")
        selector.register(stderr, selectors.EVENT_READ, "stderr")
        selector.register(done, selectors.EVENT_READ, "done")
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in selector.select(remaining):
                if key.data == "done":
                    selector.unregister(done)
                    finished = True
                    # What an escaped process still holds open is read for a moment only.
                    deadline = min(deadline, time.monotonic() + DRAIN_S)
                    continue
                chunk = os.read(key.fd, READ_CHUNK_BYTES)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.data == "stderr":
                    err = (err + chunk)[-STDERR_TAIL_BYTES:]
                else:
                    out += chunk
                    if len(out) > output_limit:
                        output_limited = True
                        selector.unregister(stdout)
                        stdout.close()
    text = err.decode("utf-8", errors="replace")
    return _Captured(bytes(out[:output_limit]), text, output_limited, not finished)


def _result(report: bytes, argv: list[str], captured: _Captured, limits: Limits) -> RunResult:
    measured = json.loads(report)
    if measured["exec_error"]:
        raise OSError(f"cannot run {argv[0]!r}: {os.strerror(measured['exec_error'])}")
    return RunResult(
        exit_code=None if measured["exit_code"] < 0 else measured["exit_code"],
        signal=measured["signal"] or None,
        stdout=captured.stdout,
        stderr_tail=captured.stderr_text,
        wall_s=measured["wall_s"],
        cpu_s=measured["cpu_s"],
        peak_memory_mb=measured["peak_memory_mb"],
        timed_out=measured["timed_out"],
        output_limited=captured.output_limited,
    )


def _close_all(fds: list[int]) -> None:
    """Close and forget each fd, so none is closed twice (its number may be reused)."""
    while fds:
        os.close(fds.pop())


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _drop_to(uid: int) -> list[str]:
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--no-new-privs",
    ]


def _setenv(env: Mapping[str, str]) -> list[str]:
    return [arg for name, value in env.items() for arg in ("--setenv", name, value)]


@functools.cache
def _system_view() -> tuple[str, ...]:
    """bwrap arguments that show the system directories read-only, as they are here."""
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in SYSTEM_FILES:
        args += ["--ro-bind-try", path, path]
    return tuple(args)


@functools.cache
def _shared_writable() -> tuple[str, ...]:
    """The SHARED_WRITABLE directories that exist here, each once."""
    found = {os.path.realpath(path) for path in SHARED_WRITABLE if os.path.isdir(path)}
    return tuple(sorted(found))


@contextlib.contextmanager
def _memory_file(data: bytes) -> Iterator[int]:
    """An anonymous in-memory file holding `data`, to be read from the start: a program's
    stdin, shared with the sandbox by fd."""
    fd = os.memfd_create("tessy-file")  # close-on-exec: only where it is handed on
    try:
        _write_all(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
