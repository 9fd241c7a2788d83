"""The study's summary: per method and question, the masked side's win rate with its Wilson
interval; the raters, their votes, and how much they agree (pairwise agreement and Fleiss' κ,
each with a bootstrap interval over cases). Pure Python and numpy."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from maskedit.app.study_votes import QUESTIONS, Vote
from maskedit.report.stats import bootstrap_ci

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile
OUTCOMES = ("masked", "baseline", "both", "neither")


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927); (0, 1) when n == 0.

    centre = (p + z²/2n) / (1 + z²/n),  half = z √(p(1−p)/n + z²/4n²) / (1 + z²/n).
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def outcome(masked_side: str, answer: str) -> str:
    """An answer seen from the methods: "masked", "baseline", "both" or "neither"."""
    if answer in ("both", "neither"):
        return answer
    return "masked" if answer == masked_side else "baseline"


@dataclass(frozen=True)
class SummaryRow:
    """One method × question: counts, and the masked method's win rate over decisive votes."""

    method: str
    question: str
    n: int
    masked: int
    baseline: int
    both: int
    neither: int

    @property
    def decisive(self) -> int:
        return self.masked + self.baseline

    @property
    def win_rate(self) -> float | None:
        """masked / (masked + baseline); None without a decisive vote."""
        return self.masked / self.decisive if self.decisive else None

    @property
    def ci95(self) -> tuple[float, float]:
        return wilson_interval(self.masked, self.decisive)


class Summary(list):
    """`summarize`'s rows (a list of SummaryRow), with the votes they were counted from, so the
    printed summary can also say who rated and how much they agree, and how many duplicate votes
    the store left out (`read_votes`)."""

    def __init__(
        self, rows: Iterable[SummaryRow] = (), votes: Iterable[Vote] = (), duplicates: int = 0
    ):
        super().__init__(rows)
        self.votes = list(votes)
        self.duplicates = duplicates


def summarize(votes: Iterable[Vote]) -> Summary:
    """Per method and question: counts of each outcome, sorted by method then question order.

    A "win" is a vote for the masked side over the baseline; "both" and "neither" are ties,
    counted but left out of the win rate (and of its Wilson interval). Every vote given counts;
    `read_votes` has already kept one per rater, case and question, and its count of the others
    (`duplicates`) is carried on.
    """
    duplicates = getattr(votes, "duplicates", 0)
    votes = list(votes)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for v in votes:
        key = (v.method, v.question)
        tally = counts.setdefault(key, {"masked": 0, "baseline": 0, "both": 0, "neither": 0})
        tally[outcome(v.masked_side, v.answer)] += 1
    order = {q: i for i, q in enumerate(QUESTIONS)}
    rows = [
        SummaryRow(method, question, sum(t.values()), **t)
        for (method, question), t in counts.items()
    ]
    rows = sorted(rows, key=lambda r: (r.method, order.get(r.question, len(order)), r.question))
    return Summary(rows, votes, duplicates)


def format_summary(rows: list[SummaryRow]) -> str:
    """A plain-text table of `summarize`'s rows (what `maskedit study DIR --summary` prints),
    then the raters and their agreement when the rows carry their votes."""
    if not rows:
        return "no votes yet"
    header = (
        f"{'method':<12} {'question':<12} {'n':>4} {'masked':>6} {'base':>6} {'both':>5} "
        f"{'neither':>7}  {'win rate (masked vs baseline), 95 % Wilson CI'}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        if r.win_rate is None:
            rate = "—  (no decisive votes)"
        else:
            lo, hi = r.ci95
            rate = f"{r.win_rate:6.1%}  [{lo:.1%}, {hi:.1%}]  of {r.decisive} decisive"
        lines.append(
            f"{r.method:<12} {r.question:<12} {r.n:>4} {r.masked:>6} {r.baseline:>6} "
            f"{r.both:>5} {r.neither:>7}  {rate}"
        )
    lines.append("")
    lines.append("questions: " + "; ".join(f"{k} = {t}" for k, t in QUESTIONS.items()))
    lines.append("win rate = masked / (masked + baseline); 'both' and 'neither' are ties.")
    duplicates = getattr(rows, "duplicates", 0)
    if duplicates:
        lines.append(
            f"dropped {duplicates} duplicate vote{'s' if duplicates != 1 else ''} (a rater's "
            "second answer to the same question about a case); each rater's first answer counts."
        )
    raters = format_raters(getattr(rows, "votes", []))
    if raters:
        lines += ["", raters]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Raters and their agreement.


def votes_per_rater(votes: Iterable[Vote]) -> dict[str, int]:
    """How many cases each rater answered (one per submitted pair), by rater id."""
    cases: dict[str, set[str]] = {}
    for v in votes:
        cases.setdefault(v.rater, set()).add(v.case_id)
    return {rater: len(ids) for rater, ids in sorted(cases.items())}


def rating_counts(votes: Iterable[Vote], question: str) -> np.ndarray:
    """Cases × OUTCOMES counts of one question's answers, one row per case that at least two
    raters answered. Answers are compared as outcomes (masked, baseline, both, neither), since
    each rater saw their own left/right order. A rater's first answer to a case counts."""
    first: dict[tuple[str, str], str] = {}
    for v in votes:
        if v.question == question:
            first.setdefault((v.case_id, v.rater), outcome(v.masked_side, v.answer))
    by_case: dict[str, Counter] = {}
    for (case_id, _), out in first.items():
        by_case.setdefault(case_id, Counter())[out] += 1
    rows = [[c[o] for o in OUTCOMES] for _, c in sorted(by_case.items()) if sum(c.values()) >= 2]
    return np.array(rows, dtype=np.float64).reshape(-1, len(OUTCOMES))


def pairwise_agreement(counts: np.ndarray) -> float:
    """The share of rater pairs, within a case, that gave the same answer, averaged over cases
    (Fleiss' P̄): P_i = Σ_j n_ij (n_ij − 1) / (n_i (n_i − 1)). NaN without a case."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape[0] == 0:
        return math.nan
    n = counts.sum(axis=1)
    return float(np.mean((counts * (counts - 1)).sum(axis=1) / (n * (n - 1))))


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' κ (Fleiss 1971) of a cases × categories count table, each case rated by at least
    two raters (their number may vary): κ = (P̄ − P_e) / (1 − P_e), with P̄ the pairwise
    agreement and P_e = Σ_j p_j², p_j the share of all answers in category j. NaN when every
    answer is the same category (P_e = 1) or there is no case."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape[0] == 0:
        return math.nan
    p = counts.sum(axis=0) / counts.sum()
    expected = float((p * p).sum())
    if expected >= 1.0:
        return math.nan
    return (pairwise_agreement(counts) - expected) / (1.0 - expected)


@dataclass(frozen=True)
class Agreement:
    """One question's agreement between raters over the cases at least two of them answered."""

    question: str
    cases: int
    pairwise: float
    pairwise_ci: tuple[float, float] | None
    kappa: float
    kappa_ci: tuple[float, float] | None


def agreement(votes: Iterable[Vote]) -> list[Agreement]:
    """Per question: pairwise agreement and Fleiss' κ, each with a bootstrap 95 % interval over
    the cases (resampled with replacement)."""
    votes = list(votes)
    out = []
    for question in QUESTIONS:
        counts = rating_counts(votes, question)
        out.append(
            Agreement(
                question,
                counts.shape[0],
                pairwise_agreement(counts),
                bootstrap_ci(counts, pairwise_agreement),
                fleiss_kappa(counts),
                bootstrap_ci(counts, fleiss_kappa),
            )
        )
    return out


def format_raters(votes: Iterable[Vote]) -> str:
    """The raters, their votes, and their agreement, as `--summary` prints them below the table."""
    votes = list(votes)
    per_rater = votes_per_rater(votes)
    if not per_rater:
        return ""
    lines = [
        f"raters: {len(per_rater)}; cases answered per rater: "
        + ", ".join(f"{r} {n}" for r, n in per_rater.items()),
    ]
    rows = agreement(votes)
    if all(a.cases == 0 for a in rows):
        lines.append("agreement between raters: needs cases answered by at least two raters")
        return "\n".join(lines)
    lines.append(
        "agreement between raters (cases answered by two or more; bootstrap 95 % CI over cases):"
    )
    for a in rows:
        if a.cases == 0:
            lines.append(f"  {a.question:<12} no case answered by two raters")
            continue
        lines.append(
            f"  {a.question:<12} {a.cases:>4} cases  pairwise {a.pairwise:6.1%} "
            f"{_ci(a.pairwise_ci, '{:.1%}')}  Fleiss' κ {_num(a.kappa)} {_ci(a.kappa_ci, '{:.2f}')}"
        )
    return "\n".join(lines)


def _num(value: float) -> str:
    return "  n/a" if math.isnan(value) else f"{value:5.2f}"


def _ci(ci: tuple[float, float] | None, fmt: str) -> str:
    return "[—]" if ci is None else f"[{fmt.format(ci[0])}, {fmt.format(ci[1])}]"
