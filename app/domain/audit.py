"""Audit of a mapping against a data survey (pure domain layer).

For every source label with at least ``min_pixels`` surveyed pixels (:class:`AuditThresholds`),
``share[t]`` is the share of its pixels the teacher (no priors) predicts as class ``t`` by arg-max
over the real classes (:meth:`app.domain.survey.LabelStats.share_of`; void's own share is its arg-max
over all N+1 channels):

* ``contradicted`` — the label's allowed targets together get less than ``contradicted_max`` of its
  pixels while other classes, each with at least ``propose_min``, together get at least
  ``dominant_min``: the data says those classes ``U``. Proposed: add ``U`` (and drop the allowed
  targets under ``unused_max``). Several classes count together because a coarse label's pixels
  spread over the fine classes it means (``vegetation`` over ``tree`` and ``bush``): a rule asking
  for one dominant class missed such a label in the benchmark (docs/benchmarks.md).
* ``unused`` — one of several allowed targets gets less than ``unused_max`` of the label's pixels
  (and the label is not contradicted), unless the data supports it all the same: it gets at least
  :data:`~app.domain.survey.DATA_MIN_SHARE` and is predicted at least ``unused_contrast`` times as
  often on this label as on the others, or passes the suggestions' thin tier (a fifth of that floor
  at a contrast of 10x or more), which is exactly when the suggestions (from the same survey, at
  their default floor) would propose that edge. So a thin class that lives inside the label (road
  markings on a road: about 1 % of its pixels) is not called unused while the suggestions propose it;
  ``unused_contrast`` 0 turns the exception off. Proposed: remove that edge. A label's only target is
  never "unused": when the data disagrees with it, that is ``contradicted``.
* ``void_confident`` — a label mapped only to void whose pixels go to one class for at least
  ``void_confident_min`` of them. Proposed: map it to that class.

Each finding carries its numbers (:class:`Finding.facts`) and words (:func:`app.domain.survey.describe`).
Labels with fewer pixels are listed in ``AuditReport.unseen`` (no verdict without data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from app.domain.mapping import VOID, OntologyMapping
from app.domain.survey import DATA_MIN_CONTRAST, DATA_MIN_SHARE, SurveyStats, describe, supported

MAX_CONTRAST = 1e6  # the largest unused_contrast accepted (a contrast is a ratio of shares)


class FindingKind(StrEnum):
    CONTRADICTED = "contradicted"
    UNUSED = "unused"
    VOID_CONFIDENT = "void_confident"


@dataclass(frozen=True, slots=True)
class AuditThresholds:
    """Shares are of a label's arg-max pixels in the survey (0..1)."""

    min_pixels: int = 1000  # fewer surveyed pixels: no verdict for the label
    contradicted_max: float = 0.3  # allowed targets together get less than this ...
    dominant_min: float = 0.5  # ... and other classes together at least this: contradicted
    propose_min: float = 0.15  # ... counting (and proposing) the classes with at least this each
    unused_max: float = 0.02  # an allowed target with less than this: unused
    void_confident_min: float = 0.6  # a void-only label with one class at least this
    # ... but a target under unused_max that the data supports (>= DATA_MIN_SHARE and predicted this
    # many times as often here as on the other labels: the suggestions' own rule) is not unused; 0: off
    unused_contrast: float = DATA_MIN_CONTRAST

    def check(self) -> None:
        for name in ("contradicted_max", "dominant_min", "propose_min", "unused_max", "void_confident_min"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be 0..1, got {value}")
        if self.min_pixels < 0:
            raise ValueError(f"min_pixels must be >= 0, got {self.min_pixels}")
        if not 0.0 <= self.unused_contrast <= MAX_CONTRAST:
            raise ValueError(f"unused_contrast must be 0..{MAX_CONTRAST:g}, got {self.unused_contrast}")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    source_name: str
    current: tuple[int, ...]  # the label's targets now (VOID = void)
    proposed: tuple[int, ...]  # the targets the data suggests instead
    target: int  # the class the finding is about (the dominant one, or the unused edge)
    message: str
    facts: tuple[tuple[str, float], ...] = ()

    @property
    def add(self) -> tuple[int, ...]:
        return tuple(t for t in self.proposed if t not in self.current)

    @property
    def remove(self) -> tuple[int, ...]:
        return tuple(t for t in self.current if t not in self.proposed)


@dataclass(frozen=True, slots=True)
class AuditReport:
    findings: tuple[Finding, ...]
    checked: tuple[str, ...]  # labels with enough pixels for a verdict
    unseen: tuple[str, ...] = field(default=())  # labels with too few pixels


def _name(stats: SurveyStats, target: int) -> str:
    return "void" if target == VOID else stats.class_names[target]


def _label_findings(
    name: str, current: tuple[int, ...], stats: SurveyStats, th: AuditThresholds
) -> list[Finding]:
    row = stats.labels[name]
    shares = row.class_shares()
    n = len(stats.class_names)
    real = [t for t in current if t != VOID and t < n]
    best = max(range(n), key=lambda j: (shares[j], -j)) if n else VOID
    words = describe(stats, name)
    facts = (("dominant_share", round(shares[best], 4)), ("label_pixels", float(row.total)))
    if not real:  # void only (or in no edge)
        if n and shares[best] >= th.void_confident_min:
            msg = (
                f"mapped only to void, but {shares[best]:.0%} of its pixels are predicted "
                f"`{_name(stats, best)}`: {words}"
            )
            return [Finding(FindingKind.VOID_CONFIDENT, name, current or (VOID,), (best,), best, msg, facts)]
        return []
    allowed = sum(shares[t] for t in real)
    others = sorted(
        (j for j in range(n) if j not in real and shares[j] >= th.propose_min), key=lambda j: -shares[j]
    )
    elsewhere = sum(shares[j] for j in others)
    if allowed < th.contradicted_max and others and elsewhere >= th.dominant_min:
        kept = tuple(t for t in real if shares[t] >= th.unused_max)
        allowed_names = ", ".join(f"`{_name(stats, t)}`" for t in real)
        other_names = ", ".join(f"`{_name(stats, j)}`" for j in others)
        msg = (
            f"mapped to {allowed_names} ({allowed:.0%} of its pixels), but {elsewhere:.0%} are predicted "
            f"{other_names}: {words}"
        )
        best = others[0]
        facts = (("dominant_share", round(shares[best], 4)), ("label_pixels", float(row.total)))
        proposed = tuple(sorted({*kept, *others}))
        return [
            Finding(
                FindingKind.CONTRADICTED,
                name,
                current,
                proposed,
                best,
                msg,
                facts + (("allowed_share", round(allowed, 4)),),
            )
        ]
    out = []
    for t in real:
        if shares[t] < th.unused_max and len(real) > 1 and not _supported(stats, name, t, th):
            msg = f"edge to `{_name(stats, t)}` is unused: it gets {shares[t]:.1%} of the pixels; {words}"
            proposed = tuple(x for x in current if x != t)
            out.append(
                Finding(
                    FindingKind.UNUSED,
                    name,
                    current,
                    proposed,
                    t,
                    msg,
                    (("share", round(shares[t], 4)),) + facts[1:],
                )
            )
    return out


def _supported(stats: SurveyStats, name: str, target: int, th: AuditThresholds) -> bool:
    """The data speaks for this thin edge, by the suggestions' rule at their default floor with
    ``unused_contrast`` as its contrast (:func:`app.domain.survey.supported`, thin tier included)."""
    if th.unused_contrast <= 0:
        return False
    share = stats.labels[name].share_of(target)
    contrast = stats.contrast(name, target)
    pixels = stats.labels[name].class_count(target)
    return supported(
        share, contrast, min_share=DATA_MIN_SHARE, min_contrast=th.unused_contrast, pixels=pixels
    )


def audit_mapping(
    mapping: OntologyMapping,
    source_names: tuple[str, ...],
    stats: SurveyStats,
    thresholds: AuditThresholds = AuditThresholds(),
) -> AuditReport:
    """Findings for every source label the survey saw enough of (source order, then by kind)."""
    thresholds.check()
    findings: list[Finding] = []
    checked, unseen = [], []
    for name in dict.fromkeys(source_names):
        row = stats.labels.get(name)
        if row is None or row.total < max(1, thresholds.min_pixels):
            unseen.append(name)
            continue
        checked.append(name)
        findings.extend(_label_findings(name, mapping.targets_of(name), stats, thresholds))
    return AuditReport(tuple(findings), tuple(checked), tuple(unseen))
