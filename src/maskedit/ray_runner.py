"""Run a manifest on a Ray cluster: the same cases, files and tables as `runner.run_manifest`.

Ray Data does the scheduling. The cases still to do become a dataset of one case per block;
`map_batches` hands them one at a time to a fixed pool of actors, each of which loads the models
once and calls `runner.process_case`, the same unit of work the local loop runs. The driver holds
the run lock, merges the run-log rows as they stream back and rebuilds the tables at the end.

    driver: lock → skip finished → Dataset(cases) → map_batches(CaseActor) → log rows → tables
    actor:  __init__ loads the models (once)      → __call__ runs one case → its run-log row

Resume and fault tolerance are the local rules plus Ray's retries: a case folder appears whole
(written atomically by `process_case`) or not at all, on a path every node sees; an actor that
dies is restarted and its case retried (`max_restarts`, `max_task_retries`); a retried case whose
folder a dead attempt already finished is found done and not written again.

This is the only module that imports ray; nothing imports it at import time (the CLI does,
inside the command, for `maskedit run --ray`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from maskedit import errors
from maskedit.case_files import is_leftover
from maskedit.case_plan import named_scoring, plan_case
from maskedit.config import Case, Manifest, ModelOptions, Region, Turn, check_threshold
from maskedit.errors import MaskeditError, RunFailure
from maskedit.metric_models import MetricChoices, case_benchmarks
from maskedit.outputs import remove_leftovers
from maskedit.run_folder import check_run_folder, run_lock
from maskedit.run_log import RunSummary, log_attempt, progress_bar
from maskedit.runner import finish_run, process_case
from maskedit.scoring import Scorers

# Test hook (tests/cli/test_ray.py): an actor that starts case MASKEDIT_TEST_KILL_ON_CASE while
# the file MASKEDIT_TEST_KILL_MARKER does not exist yet creates that file and dies with
# os._exit(1), as a preempted or crashed worker would: exactly once per marker file.
KILL_ON_CASE_ENV = "MASKEDIT_TEST_KILL_ON_CASE"
KILL_MARKER_ENV = "MASKEDIT_TEST_KILL_MARKER"


class CaseActor:
    """The body of a Ray actor: loads the models once, then runs one case per call."""

    def __init__(
        self,
        out_dir: str,
        model_options: ModelOptions,
        metrics: MetricChoices,
        benchmarks: frozenset[str],
        threshold: float | None,
        force: bool,
        torch_threads: int | None,
        kill_hook: tuple[str, str] | None,
    ) -> None:
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        from maskedit.models import load_models

        for lib in (diffusers_logging, transformers_logging):  # loading bars are noise in logs
            lib.disable_progress_bar()
            lib.set_verbosity_error()
        if torch_threads:  # Ray sets OMP_NUM_THREADS to the actor's CPUs (1 when fractional)
            import torch

            torch.set_num_threads(torch_threads)
        self.out_dir = Path(out_dir)
        self.setup_error: dict[str, str] | None = None
        try:
            self.models = load_models(model_options)
            tiny, device = self.models.kind == "tiny", model_options.device
            clip, backbones = metrics.load(benchmarks, tiny=tiny, device=device)
            clips = metrics.benchmark_clips(benchmarks, tiny=tiny, device=device)
            self.scorers = Scorers(clip, backbones, threshold, clips)
        except MaskeditError as err:  # e.g. weights missing on this node: the driver raises it
            self.setup_error = {
                "error_type": type(err).__name__,
                "error": f"{err} (Ray node {socket.gethostname()})",
            }
        self.force = force
        self.kill_hook = kill_hook

    def __call__(self, batch) -> dict[str, list[str]]:
        """`batch`: a pyarrow table of {"case_id", "case_json"} rows (one with batch_size=1)."""
        rows = []
        for item in batch.to_pylist():
            if self.setup_error is not None:
                rows.append(
                    json.dumps(
                        {"case_id": item["case_id"], "status": "setup_error"} | self.setup_error
                    )
                )
                continue
            case = Case.model_validate_json(item["case_json"])
            self._maybe_die(case.id)
            row = process_case(case, self.models, self.out_dir, self.scorers, self.force)
            rows.append(json.dumps(row))
        return {"row": rows}

    def _maybe_die(self, case_id: str) -> None:
        """The test hook: die like a killed worker, once per marker file (see KILL_ON_CASE_ENV)."""
        if self.kill_hook is None or self.kill_hook[0] != case_id:
            return
        try:
            fd = os.open(self.kill_hook[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        os._exit(1)


def run_manifest_ray(
    manifest: Manifest,
    out_dir: Path,
    *,
    model_options: ModelOptions | dict[str, Any],
    metrics: MetricChoices | None = None,
    threshold: float | None = None,
    address: str | None = None,
    num_actors: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> RunSummary:
    """Run every case not finished yet on Ray actors; the files equal a local run's.

    `model_options` (a `maskedit.config.ModelOptions`, or `load_models`' keyword arguments as a
    dict) are checked here; each actor receives the object and loads them once, and the metric
    networks `metrics` names (default: every choice "auto") for the benchmarks of the manifest's
    cases, as a local run does. `address` None starts a local Ray instance (or uses the one this
    process already started); "auto" or "HOST:PORT" joins a running cluster. `num_actors`
    defaults to one per GPU of the cluster, or one on CPU.

    `out_dir` and every image and mask of the manifest must be paths that every node sees (a
    shared file system): the actors write the case folders there themselves.
    """
    if not isinstance(model_options, ModelOptions):
        model_options = ModelOptions(**model_options)
    try:
        import ray  # noqa: F401 - checked before anything is locked or written
    except ImportError:
        raise MaskeditError("--ray needs Ray: pip install 'maskedit[ray]'") from None
    out_dir = Path(out_dir).absolute()
    check_threshold(threshold)
    check_run_folder(manifest, out_dir, force)
    summary = RunSummary()
    with run_lock(out_dir):
        remove_leftovers(out_dir)  # temp folders of a run killed mid-write (kill -9)
        todo, metrics = [], metrics or MetricChoices()
        # the actors load with model_options (the same fingerprint) and score with `metrics`:
        # a network "auto" picks only an actor can name, and compares
        scoring = named_scoring(manifest, model_options, threshold, metrics)
        for case in manifest.cases:
            _, why, failed = plan_case(case, model_options, out_dir, force=force, scoring=scoring)
            if failed or why is None:
                log_attempt(out_dir, failed or {"case_id": case.id, "status": "skipped"}, summary)
            else:
                todo.append(_absolute_paths(case))
        try:
            if todo:
                _run_on_ray(
                    todo,
                    out_dir,
                    summary,
                    model_options=model_options,
                    metrics=metrics,
                    benchmarks=case_benchmarks(manifest.cases),
                    threshold=threshold,
                    address=address,
                    num_actors=num_actors,
                    force=force,
                    progress=progress,
                )
        finally:
            _remove_partials(out_dir, [case.id for case in todo])
            finish_run(manifest, out_dir, summary)
    return summary


def _absolute_paths(case: Case) -> Case:
    """The case with every file it names as an absolute path (its images, each region's mask,
    the reference mask and the ground truths, a turn's too): workers do not share our cwd."""

    def absolute(image: str) -> str:
        return image if image.startswith("skimage:") else str(Path(image).absolute())

    def absolute_mask(region: Region) -> Region:  # every region's mask file (turns, regions)
        prompts = region.prompts
        if prompts.mask is None:
            return region
        prompts = prompts.model_copy(update={"mask": prompts.mask.absolute()})
        return region.model_copy(update={"prompts": prompts})

    def absolute_truth(turn: Turn) -> Turn:
        if turn.ground_truth is None:
            return turn
        return turn.model_copy(update={"ground_truth": absolute(turn.ground_truth)})

    update: dict[str, Any] = {
        "image": absolute(case.image),
        "references": tuple(absolute(r) for r in case.references),
    }
    if case.reference_mask is not None:
        update["reference_mask"] = Path(case.reference_mask).absolute()
    if case.ground_truth is not None:
        update["ground_truth"] = absolute(case.ground_truth)
    case = case.map_regions(absolute_mask)
    if case.turns:
        update["turns"] = tuple(absolute_truth(turn) for turn in case.turns)
    return case.model_copy(update=update)


def _remove_partials(out_dir: Path, case_ids: list[str]) -> None:
    """Remove the temp folders (`.<id>.XXXXXXXX.partial`) that dead attempts left behind.

    Safe under the run lock once the actors are gone: no other writer can own them.
    """
    if not case_ids or not out_dir.is_dir():
        return
    ids = set(case_ids)
    for path in out_dir.iterdir():
        name = path.name
        if not (name.startswith(".") and name.endswith(".partial") and path.is_dir()):
            continue
        case_id, _, _random = name[1 : -len(".partial")].rpartition(".")
        if case_id in ids and is_leftover(path):
            shutil.rmtree(path, ignore_errors=True)


def _run_on_ray(
    todo: list[Case],
    out_dir: Path,
    summary: RunSummary,
    *,
    model_options: ModelOptions,
    metrics: MetricChoices,
    benchmarks: frozenset[str],
    threshold: float | None,
    address: str | None,
    num_actors: int | None,
    force: bool,
    progress: bool,
) -> None:
    import ray

    started = _connect(address)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the rich bar below counts cases instead
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # no "Starting execution" lines
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)

        n, resources, threads = _actor_plan(ray, model_options, num_actors, len(todo))
        kill_hook = None
        if os.environ.get(KILL_ON_CASE_ENV) and os.environ.get(KILL_MARKER_ENV):
            kill_hook = (os.environ[KILL_ON_CASE_ENV], os.environ[KILL_MARKER_ENV])
        # One case per block, so that each case is its own task and goes to whichever actor is
        # free; a Case travels as its JSON (Arrow would unify the cases' optional fields, e.g.
        # add "source": null to captions that only have a target).
        items = [{"case_id": c.id, "case_json": c.model_dump_json()} for c in todo]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        # No task-based step before the actors (from_items is already in the object store): on
        # a 2-CPU machine a read or map task that needs a whole CPU never gets one beside two
        # actors, and the run hangs. Ray Data restarts a dead actor and retries its case by
        # default (max_restarts=-1, max_task_retries=-1 on actor pools).
        ds = ds.map_batches(
            CaseActor,
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=n, max_tasks_in_flight_per_actor=1),
            fn_constructor_kwargs={
                "out_dir": str(out_dir),
                "model_options": model_options,
                "metrics": metrics,
                "benchmarks": benchmarks,
                "threshold": threshold,
                "force": force,
                "torch_threads": threads,
                "kill_hook": kill_hook,
            },
            **resources,
        )
        dispatched = {c.id for c in todo}
        reported: set[str] = set()
        with progress_bar(progress) as bar:
            task = bar.add_task(f"cases on {n} Ray actor{'s' * (n > 1)}", total=len(todo))
            try:
                for item in ds.iter_rows():
                    row = json.loads(item["row"])
                    if row["status"] == "setup_error":  # as a local run: one line, no case run
                        error_class = getattr(errors, row["error_type"], MaskeditError)
                        raise error_class(row["error"])
                    if row["status"] == "skipped":
                        # sent as not done, found done: an attempt whose worker died between
                        # writing the folder and reporting finished it
                        row = {"case_id": row["case_id"], "status": "ok", "seconds": None}
                    reported.add(row["case_id"])
                    log_attempt(out_dir, row, summary)
                    bar.advance(task)
            except MaskeditError:
                raise
            except Exception as err:  # a Ray or worker error: what finished stays finished
                left = sorted(dispatched - reported)
                lines = str(err).strip().splitlines()
                detail = lines[-1] if lines else type(err).__name__
                raise RunFailure(
                    f"the Ray run stopped after {len(reported)} of {len(todo)} cases ({detail}); "
                    f"not finished: {', '.join(left)}; run the same command again to resume"
                ) from err
    finally:
        if started:
            ray.shutdown()


def _actor_plan(ray, model_options: ModelOptions, num_actors: int | None, n_cases: int):
    """(actors, the Ray resources of each, torch threads per actor) for this cluster.

    GPU: one actor per GPU (`num_gpus=1`) and at most one CPU each. CPU: one actor unless asked;
    the actors share the CPUs less one left to Ray Data, each within one node. Every actor runs
    torch with this process's thread count, the one a local run here uses: on CPU the thread
    count changes the last bits of a convolution, so any other count would change the PNGs.
    """
    import torch

    total = ray.cluster_resources()
    gpus = int(total.get("GPU", 0))
    device = model_options.device
    if device == "cuda" and gpus == 0:
        raise RunFailure("--device cuda: the Ray cluster has no GPU")
    use_gpu = gpus > 0 and device in (None, "cuda")
    n = num_actors if num_actors is not None else (gpus if use_gpu else 1)
    if n < 1:
        raise RunFailure(f"--ray-actors {n}: expected at least 1")
    if use_gpu and n > gpus:  # the extra actors would wait for a GPU for ever
        raise RunFailure(
            f"--ray-actors {n}: the Ray cluster has {gpus} GPU(s) and each actor holds one"
        )
    n = min(n, n_cases)
    cpus = float(total.get("CPU", 1))
    share = (cpus - 1) / n
    if use_gpu:
        resources = {"num_gpus": 1, "num_cpus": min(1.0, max(0.1, share))}
    else:
        node_cpus = max(
            (node["Resources"].get("CPU", 0) for node in ray.nodes() if node.get("Alive")),
            default=cpus,
        )
        resources = {"num_cpus": max(0.1, min(share, node_cpus - 1))}
    return n, resources, torch.get_num_threads()


def _connect(address: str | None) -> bool:
    """Join the cluster at `address`, or start a local instance; True if we started one."""
    import ray

    if ray.is_initialized():
        return False
    if address is None:
        ray.init(
            num_cpus=len(os.sched_getaffinity(0)),
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    else:
        ray.init(address=address, logging_level=logging.WARNING)
    return True
