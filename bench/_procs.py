"""Measure a command's CPU the way a user pays for it: every process it starts, however short- or long-lived.

Three independent figures for one run window (see `run_measured`):

* ``cpu_tree``: RUSAGE_CHILDREN delta of this process, which is made a *child subreaper* first
  (prctl PR_SET_CHILD_SUBREAPER). Every descendant is then reaped either by its own parent (its CPU
  rolls up the chain) or, once orphaned, by us; we wait until no descendant is left. So the delta is
  the user+system CPU of every process the command started (Ray's GCS, raylet, workers, agents;
  datatrove's forkserver, pool and sandbox processes), and nothing else, on a busy machine too, with one
  exception: a parent that *ignores* SIGCHLD (Ray's raylet does) has its children reaped by the kernel,
  and their CPU is then added to nobody. For those processes (found by the parent's SigIgn mask in
  /proc) the sampler's last reading of their own and their reaped children's CPU is added
  (``cpu_unreaped``), unless they were re-parented to us and reaped here. What such a process spends
  after the sampler's last look (at most ``interval`` seconds of it), or if it lives less than one
  interval, is missed.
* ``cpu_psutil``: a cross-check. A thread samples every descendant's own user+system time every
  ``interval`` seconds and keeps the last value seen per process. A lower bound: it misses what a
  process spent after the last sample and processes that lived less than one interval.
* ``cpu_machine``: busy time (user+nice+system+irq+softirq+steal) from /proc/stat over the window,
  all cores. It counts everything on the machine, other users' work included, so it only means
  something on an otherwise idle machine; ``background_cores`` (busy cores measured just before the
  run) says how idle it was.

Linux only. Processes are only ever ended by pid, and only descendants of this process.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil

PR_SET_CHILD_SUBREAPER = 36
CLK_TCK = os.sysconf("SC_CLK_TCK")


def become_subreaper() -> bool:
    """Orphaned descendants get re-parented to this process (so their CPU is counted when we reap them)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        return False


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def machine_busy() -> tuple[float, float]:
    """(busy seconds, total seconds) summed over all cores since boot, from the first line of /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy / CLK_TCK, (busy + idle + iowait) / CLK_TCK


def background_cores(seconds: float) -> float:
    """How many cores were busy (with anything) over the next `seconds`."""
    if seconds <= 0:
        return float("nan")
    b0, _ = machine_busy()
    t0 = time.perf_counter()
    time.sleep(seconds)
    b1, _ = machine_busy()
    return (b1 - b0) / (time.perf_counter() - t0)


def descendants() -> list[psutil.Process]:
    try:
        return psutil.Process(os.getpid()).children(recursive=True)
    except psutil.Error:
        return []


class TreeSampler(threading.Thread):
    """Samples the own CPU time of every descendant process; keeps the last value seen per process."""

    def __init__(self, interval: float = 0.25):
        super().__init__(daemon=True)
        self.interval = interval
        self.seen: dict[tuple[int, float], tuple[str, float]] = {}
        # per process, at its last sample: (CPU of its reaped children, whether its parent ignored SIGCHLD)
        self.extra: dict[tuple[int, float], tuple[float, bool]] = {}
        self._ign: dict[int, bool] = {}
        self._stop_event = threading.Event()

    def _ignores_sigchld(self, pid: int) -> bool:
        if pid not in self._ign:
            self._ign[pid] = ignores_sigchld(pid)
        return self._ign[pid]

    def sample(self) -> None:
        for p in descendants():
            try:
                with p.oneshot():
                    key = (p.pid, p.create_time())
                    t = p.cpu_times()
                    ppid = p.ppid()
                    name = self.seen.get(key, (None,))[0] or _label(p)
                    self.seen[key] = (name, t.user + t.system)
                    self.extra[key] = (t.children_user + t.children_system,
                                       ppid != os.getpid() and self._ignores_sigchld(ppid))
            except psutil.Error:
                continue

    def unreaped(self, reaped_by_us: set[int]) -> tuple[float, int]:
        """CPU of processes whose parent ignored SIGCHLD (their own + their reaped children's), not reaped here."""
        total, n = 0.0, 0
        for key, (kids, ign) in self.extra.items():
            if ign and key[0] not in reaped_by_us:
                total += self.seen[key][1] + kids
                n += 1
        return total, n

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def total(self) -> float:
        return sum(cpu for _name, cpu in self.seen.values())

    def by_name(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, cpu in self.seen.values():
            out[name] = out.get(name, 0.0) + cpu
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _label(p: psutil.Process) -> str:
    """A short, stable name: Ray sets worker titles (ray::IDLE, ray::_run_unit); python scripts by their script."""
    try:
        cmd = p.cmdline()
    except psutil.Error:
        cmd = []
    name = p.name()
    if len(cmd) == 1 and " " in cmd[0]:  # a title set with setproctitle (Ray's agents and workers)
        cmd = cmd[0].split()
    if cmd:
        first = os.path.basename(cmd[0])
        if first.startswith("ray::"):
            return cmd[0].split(" ")[0][:40]
        if "python" in first and len(cmd) > 1:
            for arg in cmd[1:]:
                if arg.startswith("-c"):
                    return "python -c (multiprocessing/forkserver)"
                if not arg.startswith("-"):
                    return "python " + os.path.basename(arg)[:40]
            return "python"
        return first[:40]
    return name


def ignores_sigchld(pid: int) -> bool:
    """Whether a process ignores SIGCHLD (its exited children are then reaped by the kernel, CPU and all)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGCHLD - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


def _reap_all(reaped: set[int] | None = None) -> int:
    """Reap every exited child (orphans included, as we are a subreaper); returns how many."""
    n = 0
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return n
        if pid == 0:
            return n
        if reaped is not None:
            reaped.add(pid)
        n += 1


def _end_descendants(grace: float = 5.0, reaped: set[int] | None = None) -> list[str]:
    """SIGTERM, then SIGKILL, every remaining descendant, by pid. Returns what was ended."""
    ended = []
    procs = descendants()
    for p in procs:
        try:
            ended.append(f"{p.pid} {_label(p)}")
            p.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _gone, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=grace)
    _reap_all(reaped)
    return ended


def run_measured(cmd: list[str], log_prefix: Path, *, env: dict | None = None, cwd: str | None = None,
                 timeout: float = 3600.0, linger: float = 60.0, interval: float = 0.25,
                 background_s: float = 1.0) -> dict:
    """Run `cmd` with stdout/stderr to files (`log_prefix`.out/.err; never a pipe: an orphan holding it open
    would hang us) and measure it. Wall time is until the command exits (what the user waits for);
    `wall_teardown` until its last descendant is gone; CPU is counted until then.

    Descendants still alive `linger` seconds after the command exits are ended (by pid) and listed.
    """
    if not getattr(run_measured, "_subreaper", False):
        run_measured._subreaper = become_subreaper()
    _reap_all()  # leftovers of an earlier run must not land in this window
    bg = background_cores(background_s)
    sampler = TreeSampler(interval)
    reaped: set[int] = set()
    c0 = children_cpu()
    m0, _ = machine_busy()
    t0 = time.perf_counter()
    with open(f"{log_prefix}.out", "wb") as out, open(f"{log_prefix}.err", "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        sampler.start()
        timed_out = False
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _end_descendants(reaped=reaped)
            rc = proc.wait()
    reaped.add(proc.pid)
    wall = time.perf_counter() - t0
    stragglers: list[str] = []
    deadline = time.perf_counter() + linger
    while True:
        _reap_all(reaped)
        if not descendants():
            break
        if time.perf_counter() > deadline:
            stragglers = _end_descendants(reaped=reaped)
            break
        time.sleep(0.1)
    wall_teardown = time.perf_counter() - t0
    sampler.stop()
    m1, _ = machine_busy()
    c1 = children_cpu()
    unreaped, n_unreaped = sampler.unreaped(reaped)
    return {
        "rc": rc,
        "timed_out": timed_out,
        "wall": wall,
        "wall_teardown": wall_teardown,
        "cpu_tree": c1 - c0 + unreaped,
        "cpu_rusage": c1 - c0,
        "cpu_unreaped": unreaped,
        "processes_unreaped": n_unreaped,
        "cpu_psutil": sampler.total(),
        "cpu_machine": m1 - m0,
        "background_cores": bg,
        "processes_seen": len(sampler.seen),
        "cpu_by_process": {k: round(v, 2) for k, v in list(sampler.by_name().items())[:12]},
        "stragglers_ended": stragglers,
        "subreaper": run_measured._subreaper,
    }
