"""Run a parser on hostile input in a killable child process: deadlines, a memory cap, data-only replies.

A thread cannot stop C code that loops (an HTML or PDF parser), and SIGALRM only fires between Python
bytecodes, so only killing a process enforces a time cap. The child is `python -m MODULE`: it imports that one
leaf module and what it needs, not the stage machinery. Frames on stdin/stdout are an 8-byte big-endian length
and a payload; requests may carry raw bytes, replies are JSON. Nothing a child sends is unpickled: a page that
subverts the parser can crash the child, never run code in the parent.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import struct
import subprocess
import sys
import time
from typing import Any, Callable, Iterator

HEADER = struct.Struct(">Q")
MEMORY_ENV = "WINNOW_SANDBOX_MEMORY_MB"


class Deadline(Exception):
    """The child did not answer in time; it has been killed."""


class ChildGone(Exception):
    """The child exited (a crash, the memory cap) before answering."""


# --- framing, used on both sides ---------------------------------------------------------------------------


def write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytes | None:
    """n bytes from fd, or None at end of file; raises Deadline once `deadline` (monotonic) passes."""
    chunks, need = [], n
    while need:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise Deadline
        chunk = os.read(fd, min(need, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        need -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> bytes | None:
    head = read_exact(fd, HEADER.size, deadline)
    return None if head is None else read_exact(fd, HEADER.unpack(head)[0], deadline)


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=True).encode("ascii")


# --- the parent's side -------------------------------------------------------------------------------------


class Sandbox:
    """One long-lived child (`python -m module`), restarted on the next request after it dies or is killed."""

    def __init__(self, module: str, *, memory_mb: int | None = None, env: dict[str, str] | None = None,
                 stderr: Any = None):
        self.module, self.memory_mb, self.extra_env, self.stderr = module, memory_mb, env or {}, stderr
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **self.extra_env)
        if self.memory_mb:
            env[MEMORY_ENV] = str(self.memory_mb)
        self.proc = subprocess.Popen([sys.executable, "-m", self.module], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, env=env, close_fds=True)
        self.starts += 1

    def send(self, *payloads: bytes) -> None:
        """Frames to the child; a child that already died raises ChildGone."""
        if not self.alive:
            self.kill()
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            for payload in payloads:
                write_frame(self.proc.stdin.fileno(), payload)
        except (BrokenPipeError, OSError):
            self.kill()
            raise ChildGone("the child exited before taking the request") from None

    def recv(self, deadline: float) -> dict[str, Any]:
        """The child's next JSON reply; kills it and raises Deadline or ChildGone when there is none."""
        assert self.proc is not None and self.proc.stdout is not None
        try:
            frame = read_frame(self.proc.stdout.fileno(), deadline)
        except Deadline:
            self.kill()
            raise
        if frame is None:
            code = self.proc.wait()
            self.proc = None
            raise ChildGone(f"the child exited with code {code}")
        try:
            return json.loads(frame)
        except ValueError:  # a subverted child may write anything: that is a crash, not data
            self.kill()
            raise ChildGone("the child sent a malformed reply") from None

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: the child dies with its pipes anyway
            self.kill()


# --- the child's side --------------------------------------------------------------------------------------


def limit_memory() -> None:
    """Cap the child's address space (WINNOW_SANDBOX_MEMORY_MB), so a bomb fails here with MemoryError."""
    mb = os.environ.get(MEMORY_ENV)
    if mb:
        limit = int(mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def requests(frames_per_request: int) -> Iterator[list[bytes]]:
    """The child's loop: each request is `frames_per_request` frames from stdin, until the parent closes it."""
    fd = sys.stdin.fileno()
    while True:
        frames = []
        for _ in range(frames_per_request):
            frame = read_frame(fd)
            if frame is None:
                return
            frames.append(frame)
        yield frames


def reply(obj: dict[str, Any]) -> None:
    write_frame(sys.stdout.fileno(), encode(obj))


def serve(handle: Callable[[list[bytes]], dict[str, Any]], frames_per_request: int) -> None:
    """Answer every request with handle(frames); an exception becomes an error reply, not a dead child."""
    limit_memory()
    for frames in requests(frames_per_request):
        try:
            answer = handle(frames)
        except Exception as exc:  # noqa: BLE001 - the parent fails this input with the message
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        reply(answer)
