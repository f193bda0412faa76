"""Hard time caps for extraction: a worker process per stage instance, killed and replaced when a page overruns."""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import time

WORKER = "winnow.filters.extract._worker"


class ExtractTimeout(Exception):
    """The page took longer than the cap; the worker was killed."""


class ExtractCrash(Exception):
    """The worker died while extracting the page (a parser crash)."""


class IsolatedExtractor:
    """Sends one page at a time to a child process and waits at most `timeout_s` for the answer.

    A thread cannot stop C code (resiliparse, lxml) that loops, and SIGALRM only fires between Python bytecodes,
    so only killing a process enforces the cap. The child is started lazily and restarted after a kill.
    """

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        return subprocess.Popen([sys.executable, "-m", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    def _read_exact(self, n: int, deadline: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd, chunks, got = self.proc.stdout.fileno(), [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ExtractTimeout(f"no answer within {self.timeout_s}s")
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise ExtractCrash(f"extraction worker exited with code {self.proc.wait()}")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def extract(self, method: str, html: str, startup_grace_s: float = 30.0) -> tuple[str, str, int]:
        fresh = self.proc is None
        if fresh:
            self.proc = self._start()
        assert self.proc.stdin is not None
        data = pickle.dumps((method, html), protocol=pickle.HIGHEST_PROTOCOL)
        # A fresh worker first imports its libraries; that time is not the page's fault.
        deadline = time.monotonic() + self.timeout_s + (startup_grace_s if fresh else 0.0)
        try:
            self.proc.stdin.write(struct.pack("<Q", len(data)) + data)
            self.proc.stdin.flush()
            size = struct.unpack("<Q", self._read_exact(8, deadline))[0]
            ok, text, used, removed = pickle.loads(self._read_exact(size, deadline))
        except (ExtractTimeout, ExtractCrash):
            self.close()
            raise
        except BrokenPipeError:
            self.close()
            raise ExtractCrash("extraction worker died before taking the page") from None
        if not ok:
            raise RuntimeError(text)
        return text, used, removed

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: the child dies with its pipes anyway
            self.close()
