"""Run independent jobs and keep their records: in this process, in local worker processes or as Ray tasks.

``edgesdk sweep`` runs its grid points with it and ``compress --method auto`` its trials: each job is a
module-level function and its arguments, each finished job's record is appended (one JSON line, flushed and
synced) to a results file, and a run started again on the same file skips the jobs whose records say they
finished. Local workers are spawned processes (``concurrent.futures``, at most :data:`MAX_LOCAL_WORKERS`, each
with its own TensorFlow); Ray tasks run on ``ray="auto"`` or a cluster's address.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import multiprocessing
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgesdk.errors import EdgeSDKError

log = logging.getLogger(__name__)

#: Local worker processes at most (2 cores; each loads TensorFlow).
MAX_LOCAL_WORKERS = 2


def point_id(settings: dict[str, Any]) -> str:
    """A stable identifier of a point's settings (for resuming)."""
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def read_done(path: Path) -> dict[str, dict[str, Any]]:
    """The records of a results file by their "id" (a line cut short by an interruption is skipped)."""
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interruption: that point runs again
        if isinstance(rec, dict) and "id" in rec:
            done[rec["id"]] = rec
    return done


def append_record(path: Path, rec: dict[str, Any]) -> None:
    """Append one record as a JSON line, synced to disk at once (an interrupted run keeps what finished)."""
    cut = path.is_file() and path.stat().st_size > 0 and path.read_bytes()[-1:] != b"\n"
    with open(path, "a", encoding="utf-8") as f:
        # After a line cut short by an interruption, start a new line (the cut one stays unreadable).
        f.write(("\n" if cut else "") + json.dumps(rec, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_jobs(
    fn: Callable[..., dict[str, Any]],
    jobs: list[tuple[Any, ...]],
    on_done: Callable[[dict[str, Any]], None],
    *,
    workers: int = 1,
    ray: str | None = None,
    on_crash: Callable[[tuple[Any, ...], str], dict[str, Any]] | None = None,
) -> None:
    """Run ``fn(*job)`` for every job: in this process (``workers == 1``), in up to ``workers`` spawned local
    processes, or as Ray tasks (``ray="auto"`` or a cluster address); ``on_done(record)`` as each one ends.

    ``fn`` must be a module-level function (spawned processes and Ray import it by name). ``sweep`` runs its
    points with it, ``compress --method auto`` its trials. ``on_crash(job, error)`` is the record of a job whose
    worker died (default: the error alone)."""
    if not jobs:
        return
    if ray is not None:
        _run_ray(jobs, ray, on_done, fn, on_crash)
    elif workers <= 1:
        for job in jobs:
            on_done(fn(*job))
    else:
        _run_local(jobs, min(workers, MAX_LOCAL_WORKERS), on_done, fn)


def _run_local(
    jobs: list[tuple[Any, ...]],
    workers: int,
    on_done: Callable[[dict[str, Any]], None],
    fn: Callable[..., dict[str, Any]],
) -> None:
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        for fut in cf.as_completed(futures):
            on_done(fut.result())


def _run_ray(
    jobs: list[tuple[Any, ...]],
    address: str,
    on_done: Callable[[dict[str, Any]], None],
    fn: Callable[..., dict[str, Any]],
    on_crash: Callable[[tuple[Any, ...], str], dict[str, Any]] | None = None,
) -> None:
    try:
        import ray
    except ImportError:
        raise EdgeSDKError("--ray needs Ray: pip install 'edgesdk[ray]'") from None
    if not ray.is_initialized():
        _connect_ray(ray, address)
    remote = ray.remote(num_cpus=1)(fn)
    job_of = {remote.remote(*job): job for job in jobs}
    pending = list(job_of)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            try:
                rec = ray.get(ref)
            except (
                ray.exceptions.RayError
            ) as exc:  # the worker died (out of memory, node lost): the point failed
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                error = f"Ray: {type(exc).__name__}: {first}"
                rec = on_crash(job_of[ref], error) if on_crash else {"status": "error", "error": error}
            on_done(rec)


#: Seconds to wait for a Ray head's port to accept a connection before saying no cluster answers there.
RAY_PROBE_TIMEOUT_S = 5.0


def _connect_ray(ray: Any, address: str) -> None:
    """``ray.init`` on ``address`` ("auto" or HOST:PORT), with each way it fails as one sentence of ours (Ray's own
    messages advise flags edgesdk does not have, and an unreachable address makes it retry for minutes)."""
    where = f"sweep --ray {address}"
    hint = (
        "start one with 'ray start --head' (for a local cluster without Ray 2.60's token authentication, start "
        "it and the sweep with RAY_AUTH_MODE=disabled) or give the head's HOST:PORT"
    )
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if address != "auto" and sep and port.isdigit():
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_PROBE_TIMEOUT_S).close()
        except OSError as exc:
            raise EdgeSDKError(
                f"{where}: no Ray cluster answers at {target} ({exc.strerror or exc}); {hint}"
            ) from None
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except ConnectionError:
        raise EdgeSDKError(f"{where}: no Ray cluster is running on this machine; {hint}") from None
    except Exception as exc:
        auth = (
            isinstance(exc, getattr(ray.exceptions, "AuthenticationError", ())) or "token" in str(exc).lower()
        )
        if auth:
            raise EdgeSDKError(
                f"{where}: the cluster asks for its authentication token; give it in RAY_AUTH_TOKEN or "
                "~/.ray/auth_token (for a local cluster of your own, start it and the sweep with RAY_AUTH_MODE=disabled)"
            ) from None
        first = (str(exc).strip().splitlines() or [""])[0]
        raise EdgeSDKError(f"{where}: Ray could not connect ({type(exc).__name__}: {first})") from None


def absolute(value: Any) -> Any:
    """A path made absolute before it is sent to a worker: points run in other processes, a Ray task in the Ray
    head's working directory, where a relative path names another file (or makes a stray folder)."""
    return str(Path(value).expanduser().resolve()) if isinstance(value, (str, Path)) else value


def model_path(model: Any, out_dir: Path) -> Path:
    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.exists():
            from edgesdk.errors import ModelFormatError

            raise ModelFormatError(f"model {path} does not exist")
        return path.resolve()
    path = out_dir / "model.keras"
    model.save(path)
    return path.resolve()


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-dominated (x, y) points, both maximized, sorted by x."""
    front = [p for p in points if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points)]
    return sorted(set(front))


def plot_front(ax: Any, front: list[tuple[float, float]], color: str, drawstyle: str) -> None:
    """Draw a Pareto front (from :func:`pareto_front`) on a matplotlib axis as a step line behind the points."""
    if front:
        ax.plot(
            [p[0] for p in front],
            [p[1] for p in front],
            color=color,
            drawstyle=drawstyle,
            label="Pareto front",
            zorder=2,
        )
