"""How well the identifier checker does on the labelled corpus, and how long it takes.

    .venv/bin/python bench/phi.py            # figures
    .venv/bin/python bench/phi.py --show     # also every miss and false flag (synthetic text)

The corpus is tests/data/phi_corpus.jsonl (made by tests/data/make_phi_corpus.py): made-up
case sentences in English and French, each with the spans a reviewer would remove. A finding
is right when its kind is a labelled span's kind and the two spans overlap; a labelled span is
found when a right finding overlaps it. Precision = right findings / findings; recall = found
spans / labelled spans; per kind and overall, and for the checksum kinds together. Also false
flags per 2 KB of the sentences with nothing to find (DOMAIN.md §6 allows one).

Time: each sentence is checked REPEATS times after a warm-up (imports, compiled patterns);
its time is the median of those; p50 and p99 over sentences, in microseconds.

Targets (the issue): recall >= 0.98 on checksum identifiers and >= 0.9 overall; precision
>= 0.9. tests/test_identifiers.py holds the corpus to them; this script asserts nothing.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.identifiers import KINDS, Finding, find_identifiers

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "phi_corpus.jsonl"
CHECKSUM_KINDS = ("nhs_number", "chi_number", "bc_phn", "ohip", "ramq")
REPEATS = 25


@dataclass(frozen=True)
class Label:
    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class Sentence:
    id: int
    language: str
    text: str
    labels: tuple[Label, ...]
    held_out: bool


@dataclass
class Scores:
    right: Counter[str] = field(default_factory=Counter)      # findings that match a label
    flagged: Counter[str] = field(default_factory=Counter)    # all findings
    found: Counter[str] = field(default_factory=Counter)      # labels some finding matches
    labelled: Counter[str] = field(default_factory=Counter)   # all labels
    clean_bytes: int = 0
    clean_false_flags: int = 0
    misses: list[tuple[Sentence, Label]] = field(default_factory=list)
    false_flags: list[tuple[Sentence, Finding]] = field(default_factory=list)

    def precision(self, kinds: Sequence[str] = KINDS) -> float:
        flagged = sum(self.flagged[k] for k in kinds)
        return sum(self.right[k] for k in kinds) / flagged if flagged else 1.0

    def recall(self, kinds: Sequence[str] = KINDS) -> float:
        labelled = sum(self.labelled[k] for k in kinds)
        return sum(self.found[k] for k in kinds) / labelled if labelled else 1.0

    def false_flags_per_2kb(self) -> float:
        return self.clean_false_flags / (self.clean_bytes / 2048) if self.clean_bytes else 0.0


def load(path: Path = CORPUS) -> list[Sentence]:
    sentences = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        labels = tuple(Label(s["start"], s["end"], s["kind"]) for s in row["spans"])
        sentences.append(Sentence(row["id"], row["language"], row["text"], labels, row["held_out"]))
    return sentences


def _matches(finding: Finding, label: Label) -> bool:
    return finding.kind == label.kind and finding.start < label.end and label.start < finding.end


def score(sentences: Sequence[Sentence]) -> Scores:
    scores = Scores()
    for sentence in sentences:
        findings = find_identifiers(sentence.text, sentence.language)
        for finding in findings:
            scores.flagged[finding.kind] += 1
            if any(_matches(finding, label) for label in sentence.labels):
                scores.right[finding.kind] += 1
            else:
                scores.false_flags.append((sentence, finding))
        for label in sentence.labels:
            scores.labelled[label.kind] += 1
            if any(_matches(finding, label) for finding in findings):
                scores.found[label.kind] += 1
            else:
                scores.misses.append((sentence, label))
        if not sentence.labels:
            scores.clean_bytes += len(sentence.text.encode("utf-8"))
            scores.clean_false_flags += len(findings)
    return scores


def timings(sentences: Sequence[Sentence]) -> list[float]:
    for sentence in sentences:                      # warm-up: imports, patterns, phonenumbers
        find_identifiers(sentence.text, sentence.language)
    per_sentence = []
    for sentence in sentences:
        runs = []
        for _ in range(REPEATS):
            started = time.perf_counter_ns()
            find_identifiers(sentence.text, sentence.language)
            runs.append(time.perf_counter_ns() - started)
        per_sentence.append(statistics.median(runs) / 1000)
    return per_sentence


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: Sequence[str]) -> None:
    sentences = load()
    scores = score(sentences)
    clean = sum(1 for s in sentences if not s.labels)
    print(f"corpus: {len(sentences)} sentences ({clean} with nothing to find), "
          f"{sum(scores.labelled.values())} labelled spans; "
          f"{sum(1 for s in sentences if s.language == 'fr')} in French")
    print(f"{'kind':<16}{'labelled':>9}{'found':>7}{'recall':>8}{'flagged':>9}{'right':>7}{'precision':>11}")
    for kind in KINDS:
        print(f"{kind:<16}{scores.labelled[kind]:>9}{scores.found[kind]:>7}{scores.recall([kind]):>8.3f}"
              f"{scores.flagged[kind]:>9}{scores.right[kind]:>7}{scores.precision([kind]):>11.3f}")
    for title, kinds in (("checksum kinds", CHECKSUM_KINDS), ("overall", KINDS)):
        labelled, found = sum(scores.labelled[k] for k in kinds), sum(scores.found[k] for k in kinds)
        flagged, right = sum(scores.flagged[k] for k in kinds), sum(scores.right[k] for k in kinds)
        print(f"{title:<16}{labelled:>9}{found:>7}{scores.recall(kinds):>8.3f}"
              f"{flagged:>9}{right:>7}{scores.precision(kinds):>11.3f}")
    held_out = score([s for s in sentences if s.held_out])
    print(f"held out ({sum(1 for s in sentences if s.held_out)} sentences written after the rules "
          f"were last tuned): recall {held_out.recall():.3f}, precision {held_out.precision():.3f}, "
          f"checksum recall {held_out.recall(CHECKSUM_KINDS):.3f}")
    print(f"false flags on clean sentences: {scores.clean_false_flags} in {scores.clean_bytes} bytes "
          f"= {scores.false_flags_per_2kb():.2f} per 2 KB")
    micros = timings(sentences)
    print(f"time per sentence (median of {REPEATS} runs each): p50 {percentile(micros, 0.5):.0f} µs, "
          f"p99 {percentile(micros, 0.99):.0f} µs, max {max(micros):.0f} µs")
    if "--show" in argv:
        for sentence, label in scores.misses:
            print(f"MISS  #{sentence.id} {label.kind}: {sentence.text[label.start:label.end]!r} "
                  f"in {sentence.text!r}")
        for sentence, finding in scores.false_flags:
            print(f"FALSE #{sentence.id} {finding.kind}: {sentence.text[finding.start:finding.end]!r} "
                  f"in {sentence.text!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
