"""What a run does with one case before any model runs: skip it (finished), edit it (new,
changed, damaged or forced) or score it again from its folder (finished, but scored otherwise).

A finished folder is one whose fingerprint (`maskedit.fingerprints`) is the one the case would
get now, made on the same kind of device in the same dtype, and that still holds every file its
scores need (a multi-turn case: every turn up to head whole).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from maskedit.config import Case, Manifest, ModelOptions
from maskedit.errors import MaskeditError
from maskedit.evaluate import GROUND_TRUTH_FILE, REFERENCE_MASK_FILE
from maskedit.fingerprints import case_fingerprint, case_state, older_fingerprints
from maskedit.metric_models import MetricChoices, case_benchmarks
from maskedit.models import Models, pick_device
from maskedit.outputs import inspect_case_folder
from maskedit.scoring import FORMULAS, same_scoring
from maskedit.tables import read_metrics, read_scoring
from maskedit.turns import TurnsEdit


def plan_case(
    case: Case,
    models: Models | ModelOptions | None,
    out_dir: Path,
    *,
    force: bool = False,
    scoring: dict[str, Any] | None = None,
    made_on: ModelOptions | None = None,
) -> tuple[str, str | None, dict]:
    """(fingerprint, why the case is (re)done or None to skip it, the run-log row if it cannot
    run). Why: "new", "changed" (its case, inputs or models), "damaged", "forced" or "rescore"
    (finished, but scored otherwise than `scoring`, this run's `scoring_key`: it is scored
    again from its folder, not edited again). `made_on`: options naming the device the models
    will run on, when `models` (options) leave it to the machine."""
    scoring = scoring or {"formulas": FORMULAS, "threshold": None}
    try:
        fingerprint = case_fingerprint(case, models)
    except MaskeditError as err:  # an input vanished since the manifest was checked
        return "", "new", {"case_id": case.id, "status": "failed", "error": str(err)}
    older = older_fingerprints(case, models, scoring.get("threshold"))
    found = case_state(out_dir / case.id, fingerprint, older, made_on or models)
    if found.state == "complete" and found.reason == "done":
        why = "forced" if force else None
    elif found.state == "complete":
        why = "changed"
    else:
        why = "damaged" if found.state == "damaged" else "new"
    if why is None and not _still_scored(out_dir / case.id, case):
        why = "damaged"  # its rows would drop out of the tables, or lose their columns
    if why is None and not same_scoring(read_scoring(out_dir / case.id), _bearing(scoring, case)):
        why = "rescore"  # finished, but scored otherwise than this run scores
    refused = found.not_replaceable if why not in (None, "rescore") else None
    if refused and found.state != "absent":  # to (re)do, in a folder not maskedit's alone
        return fingerprint, "new", refused_row(case, out_dir, refused)
    return fingerprint, why, {}


def _bearing(scoring: dict[str, Any], case: Case) -> dict[str, Any]:
    """The entries of a run's scoring that bear on a case's scores: DINO scores only against a
    ground truth (MagicBrush's target), so a case without one keeps its scores whichever DINO
    the run loads (a PIE-Bench case, when the manifest gains a MagicBrush case)."""
    truths = [case.ground_truth, *(turn.ground_truth for turn in case.turns or ())]
    if any(truth is not None for truth in truths):
        return scoring
    return {name: value for name, value in scoring.items() if name != "dino"}


def refused_row(case: Case, out_dir: Path, refused: str, detail: str = "") -> dict[str, Any]:
    """The run-log row of a case to (re)do in a folder that holds files maskedit did not write
    (`refused` names them): it fails alone, and the user's files stay."""
    error = f"--out '{out_dir}': case '{case.id}' cannot be written there: {refused}"
    return {"case_id": case.id, "status": "failed", "error": error + detail}


def _still_scored(case_dir: Path, case: Case) -> bool:
    """Whether a finished folder still holds what its scores need: a readable metrics.json, and
    the reference mask and ground truth the case is scored against."""
    try:
        read_metrics(case_dir)
    except MaskeditError:
        return False
    needs = [REFERENCE_MASK_FILE] if case.reference_mask is not None else []
    needs += [GROUND_TRUTH_FILE] if case.ground_truth is not None else []
    return all((case_dir / name).is_file() for name in needs) and _turns_whole(case_dir, case)


def _turns_whole(case_dir: Path, case: Case) -> bool:
    """A multi-turn case's turns up to head each still hold every file their record names: a
    turn folder that lost its output is edited again (with the turns after it), not read."""
    if not case.turns:
        return True
    try:
        turns = TurnsEdit.open(case_dir)
    except MaskeditError:
        return False
    return all(
        inspect_case_folder(turns.turn_dir(node.id)).state == "complete" for node in turns.path()
    )


# What a dry run says of each plan, by `plan_case`'s why (None: finished).
PLAN_WORDS = {
    None: "finished: skipped",
    "new": "new: edited",
    "changed": "its case, inputs or models changed: edited again",
    "damaged": "its folder is incomplete: edited again",
    "forced": "--force: edited again",
    "rescore": "scored otherwise: scored again from its folder, not edited",
}


def named_scoring(
    manifest: Manifest,
    options: ModelOptions,
    threshold: float | None,
    metrics: MetricChoices | None,
) -> dict[str, Any]:
    """What a run's finished cases are compared with before any network loads: the metrics'
    formulas, the threshold, and the metric networks as far as `metrics` names them
    (`MetricChoices.names`)."""
    scoring: dict[str, Any] = {"formulas": FORMULAS, "threshold": threshold}
    if metrics is not None:
        tiny = options.kind == "tiny"
        scoring |= metrics.names(case_benchmarks(manifest.cases), tiny=tiny)
    return scoring


def plan_manifest(
    manifest: Manifest,
    options: ModelOptions,
    out_dir: Path,
    *,
    force: bool = False,
    threshold: float | None = None,
    metrics: MetricChoices | None = None,
    here: bool = True,
) -> list[tuple[str, str | None, str]]:
    """What `maskedit run` would do with each case: (case id, `plan_case`'s why or "failed",
    in words). Loads no model and writes nothing. It compares the scoring `named_scoring`
    gives; `here` (not on Ray's actors), the device this machine runs on too, else the device
    only as far as the options say it (a `--device` given)."""
    scoring = named_scoring(manifest, options, threshold, metrics)
    made_on = None
    if here and options.device is None:  # where `load` puts the models on this machine
        made_on = options.model_copy(update={"device": str(pick_device(None))})
    plans = []
    for case in manifest.cases:
        _, why, failed = plan_case(
            case, options, Path(out_dir), force=force, scoring=scoring, made_on=made_on
        )
        if failed:
            plans.append((case.id, "failed", f"cannot run: {failed['error']}"))
        else:
            plans.append((case.id, why, PLAN_WORDS[why]))
    return plans
