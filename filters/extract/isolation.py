"""Hard time caps for extraction: a sandboxed child per stage instance, killed and replaced when a page overruns."""

from __future__ import annotations

import time

from winnow.pipeline import sandbox

WORKER = "winnow.filters.extract._worker"


class ExtractTimeout(Exception):
    """The page took longer than the cap; the worker was killed."""


class ExtractCrash(Exception):
    """The worker died while extracting the page (a parser crash)."""


class IsolatedExtractor:
    """Sends one page at a time to a child process and waits at most `timeout_s` for the answer."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self._child = sandbox.Sandbox(WORKER)

    @property
    def proc(self):  # the child process, for tests and CPU accounting
        return self._child.proc

    def extract(self, method: str, html: str, startup_grace_s: float = 30.0) -> tuple[str, str, int]:
        fresh = not self._child.alive
        # A fresh worker first imports its libraries; that time is not the page's fault.
        deadline = time.monotonic() + self.timeout_s + (startup_grace_s if fresh else 0.0)
        try:
            self._child.send(sandbox.encode({"method": method}), html.encode("utf-8", "surrogatepass"))
            answer = self._child.recv(deadline)
        except sandbox.Deadline:
            raise ExtractTimeout(f"no answer within {self.timeout_s}s") from None
        except sandbox.ChildGone as exc:
            raise ExtractCrash(f"extraction worker: {exc}") from None
        if not answer.get("ok"):
            raise RuntimeError(answer.get("error", "extraction failed"))
        return answer["text"], answer["used"], int(answer["removed"])

    def close(self) -> None:
        self._child.kill()
