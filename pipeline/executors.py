"""Where units run: in this process (executor: local) or as Ray tasks (embedded, or on a cluster by address)."""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterable, Iterator

log = logging.getLogger("winnow")


class ClusterError(RuntimeError):
    """The Ray cluster named by --address / RAY_ADDRESS could not be joined (not a unit's failure)."""


def _choose_auth_mode(joining: bool) -> None:
    """Settle Ray's token authentication before ray.init, quietly.

    An embedded Ray turns tokens on by itself (Ray's default) and warns about it on every start: that
    warning is for people running clusters, so it is shown only with -v. A driver joining a cluster by
    ip:port does not look for the token that `ray start --head` wrote (~/.ray/auth_token), and its first
    RPC fails; it uses one when this machine has it. RAY_AUTH_MODE set by the user always wins.
    """
    auth_log = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if not log.isEnabledFor(logging.INFO):
        auth_log.setLevel(logging.ERROR)
    if joining and "RAY_AUTH_MODE" not in os.environ:
        try:  # Ray's own switch: sets the mode for this process and its children and refreshes its config
            from ray._private.authentication.authentication_token_setup import (
                maybe_enable_token_auth_if_token_available,
            )
        except ImportError:  # another Ray version: it decides by itself
            return
        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _plugin_env() -> dict[str, Any]:
    """What a cluster's workers need to find the plugins this driver uses (WINNOW_PLUGINS and the folders
    on PYTHONPATH; installed plugin packages are found through their entry points, as here)."""
    env = {k: os.environ[k] for k in ("WINNOW_PLUGINS", "PYTHONPATH") if os.environ.get(k)}
    return {"env_vars": env} if env else {}


def _connect_hint(address: str, exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"could not join the Ray cluster at {address}: {first}. Check that `ray start --head` runs there; a cluster "
        "with token authentication needs its token here (copy ~/.ray/auth_token from the head, or set RAY_AUTH_TOKEN)"
    )


class LocalExecutor:
    """Runs everything in the calling process, one item at a time. Same code path as Ray, no cluster."""

    name = "local"
    num_cpus = 1

    def imap_unordered(self, fn: Callable, items: Iterable[tuple], resources: dict | None = None) -> Iterator[Any]:
        for args in items:
            yield fn(*args)

    def map(self, fn: Callable, items: Iterable[tuple], resources: dict | None = None) -> list[Any]:
        return [fn(*args) for args in items]

    def shutdown(self) -> None:
        pass


class RayExecutor:
    """Ray tasks with a bound on work in flight, so memory stays flat however many units there are.

    Tasks are retried when a worker or node dies (max_retries); each unit writes its own outputs
    atomically, so a retried unit overwrites the same files with the same bytes.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        object_store_memory_mb: int | None = None,
        max_in_flight: int | None = None,
    ):
        import ray

        self._ray = ray
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS")
            kwargs: dict[str, Any] = dict(include_dashboard=False, ignore_reinit_error=True, logging_level=logging.WARNING)
            if address:
                kwargs["address"] = address
                kwargs["runtime_env"] = _plugin_env()
            else:  # embedded: nothing to start by hand
                # "local" always starts a private instance; without it ray.init() joins any cluster
                # that `ray start` left on this machine.
                kwargs["address"] = "local"
                kwargs["num_cpus"] = num_cpus or os.cpu_count()
                if object_store_memory_mb:
                    kwargs["object_store_memory"] = object_store_memory_mb * 1024 * 1024
            _choose_auth_mode(joining=bool(address))
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, TimeoutError) as exc:
                if not address:
                    raise
                raise ClusterError(_connect_hint(address, exc)) from None
            self._owns = True
        else:
            self._owns = False
        self.num_cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.num_gpus = int(ray.cluster_resources().get("GPU", 0))
        self.max_in_flight = max_in_flight or 2 * self.num_cpus
        self._remote_cache: dict[tuple, Any] = {}

    def _remote(self, fn: Callable, resources: dict | None):
        res = dict(resources or {})
        if res.get("num_gpus", 0) and not self.num_gpus:
            res["num_gpus"] = 0  # no GPU in this cluster: the stage falls back to CPU
        key = (fn, tuple(sorted(res.items())))
        if key not in self._remote_cache:
            self._remote_cache[key] = self._ray.remote(max_retries=3, retry_exceptions=False, **res)(fn)
        return self._remote_cache[key]

    def imap_unordered(self, fn: Callable, items: Iterable[tuple], resources: dict | None = None) -> Iterator[Any]:
        remote = self._remote(fn, resources)
        pending: list = []
        it = iter(items)
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < self.max_in_flight:
                try:
                    args = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending.append(remote.remote(*args))
            if not pending:
                break
            done, pending = self._ray.wait(pending, num_returns=1)
            yield self._ray.get(done[0])

    def map(self, fn: Callable, items: Iterable[tuple], resources: dict | None = None) -> list[Any]:
        remote = self._remote(fn, resources)
        refs = [remote.remote(*args) for args in items]
        return self._ray.get(refs)

    def shutdown(self) -> None:
        if self._owns:
            self._ray.shutdown()


def make_executor(engine) -> LocalExecutor | RayExecutor:
    if engine.executor == "local":
        return LocalExecutor()
    return RayExecutor(engine.address, engine.num_cpus, engine.object_store_memory_mb, engine.max_in_flight)
