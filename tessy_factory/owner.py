"""The process that runs a build, recorded on its row in `runs`: a run whose process died
without closing it shows as `interrupted`, and a run that a live process is building is not
opened by a second one."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil

# Start times are computed from the boot time, which the kernel may report a second apart
# from one read to the next; a reused pid starts long after the run it would be mistaken for.
START_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class Owner:
    """A process: its pid, its host's name, and its start time (seconds since the epoch),
    which tells it apart from a later process given the same pid."""

    pid: int
    host: str
    started: float

    @classmethod
    def this_process(cls) -> Owner:
        return cls(os.getpid(), socket.gethostname(), psutil.Process().create_time())

    def alive(self) -> bool | None:
        """Whether the process still runs; None when it ran on another host, where it
        cannot be checked from here."""
        if self.host != socket.gethostname():
            return None
        try:
            process = psutil.Process(self.pid)
            same = abs(process.create_time() - self.started) < START_TOLERANCE_S
            return same and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
        except psutil.AccessDenied:
            return True

    def __str__(self) -> str:
        return f"process {self.pid} on {self.host}"


def recorded_owner(pid: int | None, host: str | None, started: float | None) -> Owner | None:
    """The owner stored on a run's row; None for a run opened before owners were kept."""
    if pid is None or host is None or started is None:
        return None
    return Owner(pid, host, started)


def shown_status(status: str, owner: Owner | None) -> str:
    """The status to show: a `running` run whose process is gone is `interrupted`."""
    if status == "running" and owner is not None and owner.alive() is False:
        return "interrupted"
    return status
