"""Run a parser on hostile input in a killable child process: deadlines, a memory cap, data-only replies.

A thread cannot stop C code that loops (an HTML or PDF parser), and SIGALRM only fires between Python
bytecodes, so only killing a process enforces a time cap. The child is `python -m MODULE`: it imports that one
leaf module and what it needs, not the stage machinery. Frames on stdin/stdout are an 8-byte big-endian length
and a payload; requests may carry raw bytes, replies are JSON. Nothing a child sends is unpickled: a page that
subverts the parser can crash the child, never run code in the parent.

A child may take an init frame (JSON) once it starts, set itself up (load models) and answer with a ready reply
before its first request; it may send progress replies while it works on one request, so the parent can bound
each step of a long request rather than only the whole.
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
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

HEADER = struct.Struct(">Q")
MEMORY_ENV = "WINNOW_SANDBOX_MEMORY_MB"
EXIT_AFTER_MEMORY_ERROR = 3


class Deadline(Exception):
    """The child did not answer in time; it has been killed."""


class ChildGone(Exception):
    """The child exited (a crash, the memory cap) before answering; `returncode` is its exit status."""

    def __init__(self, detail: str, returncode: int | None = None):
        super().__init__(detail)
        self.returncode = returncode


class StartFailed(RuntimeError):
    """A child with an init frame did not come up, or refused its init: a setup error, not the input's fault."""


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
    """One long-lived child (`python -m module`), restarted on the next request after it dies or is killed.

    With `init`, each fresh child gets that frame first and must send its ready reply (kept in `hello`) within
    `startup_timeout_s`. With `capture_stderr`, what the child writes to stderr is kept for `stderr_tail()`.
    """

    def __init__(self, module: str, *, memory_mb: int | None = None, env: dict[str, str] | None = None,
                 init: dict[str, Any] | None = None, startup_timeout_s: float = 300.0,
                 capture_stderr: bool = False):
        self.module, self.memory_mb, self.extra_env = module, memory_mb, env or {}
        self.init, self.startup_timeout_s = init, startup_timeout_s
        self.stderr = tempfile.TemporaryFile() if capture_stderr else None  # noqa: SIM115 - lives with the sandbox
        self.proc: subprocess.Popen | None = None
        self.hello: dict[str, Any] = {}
        self.starts = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.kill()
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **self.extra_env)
        if self.memory_mb:
            env[MEMORY_ENV] = str(self.memory_mb)
        if self.stderr is not None:
            self.stderr.seek(0)
            self.stderr.truncate()
        self.proc = subprocess.Popen([sys.executable, "-m", self.module], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, env=env, close_fds=True)
        self.starts += 1
        if self.init is None:
            return
        try:
            self._write(encode(self.init))
            self.hello = self.recv(time.monotonic() + self.startup_timeout_s)
        except (Deadline, ChildGone) as exc:
            self.kill()
            raise StartFailed(f"the {self.module} child did not start: {self.stderr_tail() or exc}") from None
        if self.hello.get("ok") is False:
            self.kill()
            raise StartFailed(f"the {self.module} child refused its init: {self.hello.get('error')}")

    def send(self, *payloads: bytes) -> None:
        """Frames to the child, a fresh one if it died since the last request; raises ChildGone if that fails."""
        for _ in range(2):
            if not self.alive:
                self.start()
            try:
                for payload in payloads:
                    self._write(payload)
                return
            except OSError:  # a broken pipe: it died between requests
                rc = self.kill(wait_s=1.0)
        raise ChildGone("the child exited before taking the request", rc)

    def recv(self, deadline: float) -> dict[str, Any]:
        """The child's next JSON reply; kills it and raises Deadline or ChildGone when there is none."""
        assert self.proc is not None and self.proc.stdout is not None
        try:
            frame = read_frame(self.proc.stdout.fileno(), deadline)
        except Deadline:
            self.kill()
            raise
        if frame is None:  # it closed its end: let it finish exiting, so its status says why
            rc = self.kill(wait_s=max(0.0, deadline - time.monotonic()))
            raise ChildGone(f"the child exited with code {rc}", rc)
        try:
            reply = json.loads(frame)
        except ValueError:  # a subverted child may write anything: that is a crash, not data
            reply = None
        if not isinstance(reply, dict):
            raise ChildGone("the child sent a malformed reply", self.kill())
        if reply.get("memory"):  # the child exits after a memory error: do not hand it the next request
            self.kill()
        return reply

    def kill(self, wait_s: float = 0.0) -> int | None:
        """Stop the child (if any): its exit status if it exits on its own within wait_s, else None (killed)."""
        if self.proc is None:
            return None
        try:
            rc = self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            rc = None
            with contextlib.suppress(OSError):
                self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]
        self.proc = None
        return rc

    def stderr_tail(self, limit: int = 1500) -> str:
        if self.stderr is None:
            return ""
        self.stderr.seek(0, os.SEEK_END)
        self.stderr.seek(max(0, self.stderr.tell() - limit))
        return self.stderr.read().decode("utf-8", "replace").strip()

    def _write(self, payload: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        write_frame(self.proc.stdin.fileno(), payload)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: the child dies with its pipes anyway
            self.kill()


# --- the child's side --------------------------------------------------------------------------------------

_reply_fd = 1  # serve() moves the protocol off fd 1, so that what a library prints cannot corrupt it


def limit_memory() -> None:
    """Let the child add at most WINNOW_SANDBOX_MEMORY_MB of address space to what it holds now (after its
    setup: the cap bounds what one request may take, not the models' own footprint), so a bomb fails here."""
    mb = os.environ.get(MEMORY_ENV)
    if mb:
        limit = _address_space() + int(mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _address_space() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def requests(frames_per_request: int) -> Iterator[list[bytes]]:
    """The child's loop: each request is `frames_per_request` frames from stdin, until the parent closes it."""
    while True:
        frames = []
        for _ in range(frames_per_request):
            frame = read_frame(0)
            if frame is None:
                return
            frames.append(frame)
        yield frames


def reply(obj: dict[str, Any]) -> None:
    """A reply to the parent: the answer to a request, or a progress note while working on one."""
    write_frame(_reply_fd, encode(obj))


def _failure(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}


def serve(handle: Callable[[list[bytes]], dict[str, Any]], frames_per_request: int, *,
          setup: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
          is_memory_error: Callable[[BaseException], bool] = lambda exc: isinstance(exc, MemoryError)) -> int:
    """Answer every request with handle(frames); an exception becomes an error reply, not a dead child.

    With `setup`, the first frame is the parent's init: setup(init) returns the ready reply. After a memory
    error the child replies and exits (a heap that hit its limit is not trusted with the next request).
    Returns the exit status.
    """
    global _reply_fd
    _reply_fd = os.dup(1)
    os.dup2(2, 1)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash on hostile input leaves no core file behind
    if setup is not None:
        init = read_frame(0)
        if init is None:
            return 0
        try:
            hello = setup(json.loads(init))
        except Exception as exc:  # noqa: BLE001 - the parent refuses to run with the message
            reply(_failure(exc))
            return 1
    limit_memory()
    if setup is not None:
        reply(hello)
    for frames in requests(frames_per_request):
        try:
            answer = handle(frames)
        except BaseException as exc:  # noqa: BLE001 - the parent fails this input with the message
            if is_memory_error(exc):
                reply(dict(_failure(exc), memory=True))
                return EXIT_AFTER_MEMORY_ERROR
            answer = _failure(exc)
        reply(answer)
    return 0
