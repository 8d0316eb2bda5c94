"""Scale-out on Ray: the local engine's window step as Ray tasks, inpainting on actors.

The unit Ray schedules is the same one the local engine runs: a window of images through
every stage (:class:`~.scheduler.Scheduler` over that window's inputs). Each window is a Ray
task on a CPU worker (decode, detect, plan, cut, composite, snapshots, finals, sidecars —
written straight into the shared output folder through the same :class:`~.output_folder.OutputStore`);
its crops go to a model-holding actor (one per ``--gpus-per-worker`` GPUs, the diffusion
model loaded once per actor), which receives the batched crops of every window that uses it.
Classical fills need no model and run inside the task.

Guarantees are the local engine's, because it is the local engine's code: every write is
atomic; a task whose worker dies (SIGKILL, node loss) is retried by Ray and resumes from the
snapshots and finals already written, so its images end byte-identical; an actor that dies
is restarted and its pending calls retried; if the driver dies, a re-run resumes. The driver
holds the output folder's lock for the whole run, so one run writes a folder at a time
across the cluster (workers never take it).

Input and output folders must be paths every node sees the same way (a shared filesystem)
and autofix must be installed on every node.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import AutofixError, BackendUnavailable
from .executor import ImageOutcome, ImageRunner, RunOptions, inpaint_plans
from .scheduler import default_window


@dataclass(frozen=True)
class RayOptions:
    """How the Ray engine runs.

    Attributes:
        address: a Ray cluster to join (``ray://host:10001`` or ``host:6379``); None starts a
            local Ray instance for this run.
        gpus_per_worker: GPUs each inpainting actor holds (one actor per that many GPUs in
            the cluster; without GPUs, one actor on the CPU).
        cpu_workers: windows in flight at once (default: the cluster's CPUs).
    """

    address: str | None = None
    gpus_per_worker: float = 1.0
    cpu_workers: int | None = None


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BackendUnavailable("--engine ray needs ray, which is not installed: pip install 'autofix[ray]'") from None
    return ray


_WORKER_RUNNERS: dict[str, Any] = {}


def _worker_runner(config_json: dict[str, Any], out_root: str, input_root: str, options: RunOptions,
                   prompts: dict[str, Any] | None) -> ImageRunner:
    """This worker process's runner for the run (detectors built once per process, not per window)."""
    from ..config import config_hash, validate_config
    from .backends import Backends
    from .output_folder import OutputStore

    config = validate_config(config_json, "run config")
    key = f"{config_hash(config)}:{out_root}:{input_root}"
    runner = _WORKER_RUNNERS.get(key)
    if runner is None:
        runner = ImageRunner(config, OutputStore(out_root), Path(input_root), Backends(config), options, prompts)
        _WORKER_RUNNERS.clear()
        _WORKER_RUNNERS[key] = runner
    return runner


def _window(config_json: dict[str, Any], out_root: str, input_root: str, options: RunOptions,
            prompts: dict[str, Any] | None, rels: list[str], actor: Any) -> list[ImageOutcome]:
    """One window through every stage, in a Ray worker (the body of the window task)."""
    runner = _worker_runner(config_json, out_root, input_root, options, prompts)
    inpaint = None
    if actor is not None:
        ray = _ray()

        def remote(name: str, jobs: list[Any]) -> list[Any]:
            if not runner.backends.inpainter(name).generative:
                return runner.backends.inpainter(name).inpaint(jobs)  # classical: no model, stay here
            return ray.get(actor.inpaint.remote(name, jobs))

        inpaint = (lambda plans: inpaint_plans(runner.backends, plans, remote))
    outcomes = list(runner.run_many([Path(r) for r in rels], inpaint=inpaint))
    for outcome in outcomes:
        outcome.image = None
    return outcomes


class _InpaintActor:
    """Holds one inpainter (the model loaded once) and inpaints batches of crops for any window."""

    def __init__(self, config_json: dict[str, Any]) -> None:
        from ..config import validate_config
        from .backends import Backends

        self.backends = Backends(validate_config(config_json, "run config"))

    def inpaint(self, name: str, jobs: list[Any]) -> list[Any]:
        return self.backends.inpainter(name).inpaint(jobs)

    def ping(self) -> bool:
        return True


def run_many(runner: ImageRunner, rels: list[Path], opts: RayOptions) -> Iterator[ImageOutcome]:
    """Outcomes of ``rels`` processed on Ray (see the module docstring), as windows finish."""
    ray = _ray()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": False}
        if opts.address:
            kwargs["address"] = opts.address
        else:
            kwargs["num_cpus"] = max(2, opts.cpu_workers or (os.cpu_count() or 1))
        try:
            ray.init(**kwargs)
        except Exception as exc:  # noqa: BLE001 - any start/connect failure is one line
            first = (str(exc).splitlines() or [""])[0]
            raise AutofixError(f"ray: cannot {'join ' + opts.address if opts.address else 'start'}: {first}") from None
        started = True
    try:
        yield from _drive(ray, runner, rels, opts)
    finally:
        if started:
            ray.shutdown()


def _drive(ray: Any, runner: ImageRunner, rels: list[Path], opts: RayOptions) -> Iterator[ImageOutcome]:
    config_json = runner.config.model_dump(mode="json")
    names = {runner.backends.inpainter_name(s) for s in runner.config.stages} - {None}
    generative = [n for n in names if not runner.options.dry_run and runner.backends.inpainter(n).generative]
    resources = ray.cluster_resources()
    actors: list[Any] = []
    if generative:
        gpus = float(resources.get("GPU", 0))
        per = max(opts.gpus_per_worker, 1e-3)
        count = max(1, int(gpus // per)) if gpus else 1
        actor_cls = ray.remote(max_restarts=-1, max_task_retries=-1)(_InpaintActor)
        options = {"num_gpus": per} if gpus else {"num_cpus": 0}
        actors = [actor_cls.options(**options).remote(config_json) for _ in range(count)]
    window = runner.options.window or default_window(runner)
    windows = [[r.as_posix() for r in rels[i:i + window]] for i in range(0, len(rels), window)]
    in_flight_max = opts.cpu_workers or max(1, int(resources.get("CPU", 1)))
    task = ray.remote(num_cpus=1, max_retries=5)(_window)
    store = runner.store
    pending: dict[Any, list[str]] = {}
    next_window = 0
    while next_window < len(windows) or pending:
        while next_window < len(windows) and len(pending) < in_flight_max:
            actor = actors[next_window % len(actors)] if actors else None
            ref = task.remote(config_json, str(store.root), str(runner.input_root), runner.options,
                              runner.prompts or None, windows[next_window], actor)
            pending[ref] = windows[next_window]
            next_window += 1
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            batch = pending.pop(ref)
            try:
                outcomes = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a window Ray gave up on fails its images, the run goes on
                first = (str(exc).strip().splitlines() or [""])[-1]
                outcomes = [ImageOutcome(Path(r), "failed", f"{runner.input_root / r}: ray task failed ({first})")
                            for r in batch]
            yield from outcomes
