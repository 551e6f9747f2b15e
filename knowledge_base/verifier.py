"""The second-stage check of a candidate entry: do the question and the entry talk about the same matter?

Why a verifier and not only scores: a near miss ("退役军人优待证在哪里申领" against "老年人优待证怎么办？")
shares almost every word with the entry, so dense and keyword scores are *high* — no threshold
separates it from a paraphrase. What separates them is one contrast: who (退役军人 ≠ 老年人), which
procedure (注销 ≠ 注册, 补办 ≠ 首次办理), which document. No cross-encoder shipped in a registry
package handles Mandarin government terms offline, so the contrasts live in a YAML file curators
edit (``contrast_groups.yaml``, read by ``contrast.py``), and every verdict carries a reason.

Two checks, in order:
- **contrasts** against the entry's *own wording* (question, alternates, "also answers", keywords) —
  not its answer, which mentions side matters (an answer about registering may say how to
  deregister later) and would excuse real near misses;
- **coverage**: content characters of the question that appear nowhere in the entry, wording *or*
  answer ("担保人", "双胞胎"), mean it asks about something the entry does not say. This catches what
  no list can name; it only ever leads to asking the resident, never to declining. A character the
  entry does not use but *sounds* like the entry's own wording next to its neighbour (医宝卡 for
  医保卡, 身分证, 公鸡金) is a resident's homophone slip, not a new matter, so it counts as covered.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge_base import contrast
from knowledge_base.contrast import CLARIFY, DECLINE, IGNORE, Contrasts
from knowledge_base.entry import Entry
from knowledge_base.text import normalize, syllables

PASS = "pass"
SEVERITY = {PASS: 0, IGNORE: 0, CLARIFY: 1, DECLINE: 2}
ENTRY_CACHE_MAX = 20_000  # analysed entries kept; cleared when full (a rebuild brings new versions anyway)
ASCII_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Finding:
    group: str
    action: str       # decline | clarify
    reason: str


@dataclass(frozen=True)
class Verdict:
    """What the verifier says about one candidate for one question."""

    action: str                               # pass | clarify | decline
    reason: str = ""
    findings: tuple[Finding, ...] = ()
    shared: tuple[str, ...] = ()              # members both mention (why it passed)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "reason": self.reason, "shared": list(self.shared),
                "findings": [{"group": f.group, "action": f.action, "reason": f.reason} for f in self.findings]}


@dataclass(frozen=True)
class Question:
    """A question analysed once per search and checked against every candidate."""

    raw: str
    text: str                                        # normalised
    spans: tuple[tuple[tuple[int, int, int], ...], ...]   # per group: (start, end, member)
    members: tuple[dict[int, str], ...]              # per group: member -> surface term
    sounds: tuple[str, ...] = ()                     # toneless pinyin of ``text``, one per character


@dataclass
class _Wording:
    members: list[dict[int, str]] = field(default_factory=list)    # per group, in the entry's own wording
    question: list[dict[int, str]] = field(default_factory=list)   # per group, in its standard question
    own: str = ""                                                  # own wording, normalised
    sound_pairs: frozenset[tuple[str, str]] = frozenset()          # adjacent syllables of the own wording
    answer: str = ""                                               # the raw answer, normalised on first use
    _full: str | None = None

    @property
    def text(self) -> str:
        """Own wording and answer, normalised: only the coverage check needs it, so it is made lazily."""
        if self._full is None:
            self._full = f"{self.own} {normalize(self.answer)}"
        return self._full


class Verifier:
    """``clarify_uncovered``: uncovered content characters that make the verifier doubt (0: no coverage check)."""

    def __init__(self, contrasts: Contrasts, clarify_uncovered: int = 0) -> None:
        self.contrasts, self.groups, self.coverage = contrasts, contrasts.groups, contrasts.coverage
        self.clarify_uncovered = clarify_uncovered
        self._entries: dict[tuple[Any, ...], _Wording] = {}

    @classmethod
    def load(cls, path: Path, clarify_uncovered: int = 0) -> Verifier:
        return cls(contrast.load(path), clarify_uncovered)

    @classmethod
    def from_data(cls, data: Any, clarify_uncovered: int = 0) -> Verifier:
        return cls(contrast.parse(data), clarify_uncovered)

    def analyse(self, query: str) -> Question:
        text = normalize(query)
        spans = tuple(tuple(g.spans(text)) for g in self.groups)
        members = []
        for found in spans:
            named: dict[int, str] = {}
            for start, end, index in found:
                if index >= 0:
                    named.setdefault(index, text[start:end])
            members.append(named)
        return Question(query, text, spans, tuple(members), syllables(text))

    def _wording(self, entry: Entry) -> _Wording:
        key = (entry.id, entry.version, entry.question, *entry.alternates, *entry.also_answers, *entry.keywords,
               entry.answer)
        wording = self._entries.get(key)
        if wording is None:
            own = " ".join(normalize(t) for t in (*entry.texts(), *entry.keywords))
            question = normalize(entry.question)
            sounds = syllables(own)
            wording = _Wording([g.find(own) for g in self.groups], [g.find(question) for g in self.groups],
                               own, frozenset(itertools.pairwise(sounds)), entry.answer)
            if len(self._entries) >= ENTRY_CACHE_MAX:
                self._entries.clear()
            self._entries[key] = wording
        return wording

    def check(self, question: Question | str, entry: Entry) -> Verdict:
        q = self.analyse(question) if isinstance(question, str) else question
        wording = self._wording(entry)
        findings: list[Finding] = []
        shared: list[str] = []
        for group, q_members, e_members, e_question in zip(self.groups, q.members, wording.members,
                                                           wording.question, strict=True):
            if not q_members:
                if e_question and group.on_unasked != IGNORE:
                    term = next(iter(e_question.values()))
                    findings.append(Finding(group.name, group.on_unasked, f"条目专指「{term}」，问题没有提到"))
                continue
            common = q_members.keys() & e_members.keys()
            shared.extend(group.members[i].name for i in sorted(common))
            if not common and e_members and group.on_conflict != IGNORE:
                # Asked about one member, the entry is about another of the same group: a different matter.
                q_term, e_term = next(iter(q_members.values())), next(iter(e_members.values()))
                findings.append(Finding(group.name, group.on_conflict, f"问题提到「{q_term}」，条目是「{e_term}」"))
                continue
            # Each member the entry does not mention is checked on its own: sharing "封存" does not
            # excuse a question about "解封".
            for index, q_term in q_members.items():
                action = group.members[index].on_missing
                if index not in e_members and action != IGNORE:
                    findings.append(Finding(group.name, action, f"问题提到「{q_term}」，条目没有涉及"))
        if self.clarify_uncovered and not findings:
            spans = self.uncovered(q, entry)
            if sum(1 if s.isascii() else len(s) for s in spans) >= self.clarify_uncovered:
                quoted = "".join(f"「{s}」" for s in spans)
                findings.append(Finding("覆盖", CLARIFY, f"问题中的{quoted}在条目中没有出现"))
        if not findings:
            return Verdict(PASS, "", (), tuple(shared))
        findings.sort(key=lambda f: -SEVERITY[f.action])
        return Verdict(findings[0].action, findings[0].reason, tuple(findings), tuple(shared))

    def uncovered(self, question: Question | str, entry: Entry) -> list[str]:
        """Runs of the question's content characters that the entry never uses, in wording or answer.

        Covered as well: spans the entry says in other words (a contrast member it shares, a synonym).
        Function words and characters never count; digits are details; an ASCII word (HPV) is one unit.
        """
        q = self.analyse(question) if isinstance(question, str) else question
        wording = self._wording(entry)
        cov = self.coverage
        chars = list(q.text)
        for start, end in (*self._said_otherwise(q, wording), *self._sounds_alike(q, wording)):
            chars[start:end] = " " * (end - start)
        masked = cov.function_words.sub(lambda m: " " * len(m.group(0)), "".join(chars))
        text = wording.text
        runs = [w for w in ASCII_WORD.findall(masked) if w not in text]
        run = ""
        for ch in masked:
            if ch.isascii() or ch in cov.function_chars or ch in text:
                if run:
                    runs.append(run)
                run = ""
            else:
                run += ch
        if run:
            runs.append(run)
        return runs

    def content(self, text: str) -> str:
        """``text`` normalised, function words and characters and ASCII blanked: what it is about."""
        cov = self.coverage
        masked = cov.function_words.sub(lambda m: " " * len(m.group(0)), normalize(text))
        return "".join(" " if ch.isascii() or ch in cov.function_chars else ch for ch in masked)

    def wording_of(self, entry: Entry) -> tuple[str, str]:
        """The entry's own wording, and that wording with its answer (both normalised)."""
        wording = self._wording(entry)
        return wording.own, wording.text

    @staticmethod
    def _sounds_alike(q: Question, wording: _Wording) -> list[tuple[int, int]]:
        """Spans of two characters whose syllables are two adjacent syllables of the entry's own wording."""
        pairs, sounds = wording.sound_pairs, q.sounds
        return [(i, i + 2) for i in range(len(sounds) - 1) if (sounds[i], sounds[i + 1]) in pairs]

    def _said_otherwise(self, q: Question, wording: _Wording) -> list[tuple[int, int]]:
        spans = [(start, end) for found, e_members in zip(q.spans, wording.members, strict=True)
                 for start, end, member in found if member in e_members]
        text = wording.text
        for words in self.coverage.synonyms:
            if any(w in text for w in words) and any(w in q.text for w in words):
                for w in words:
                    spans.extend((m.start(), m.end()) for m in re.finditer(re.escape(w), q.text))
        return spans
