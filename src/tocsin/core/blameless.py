"""The blameless check: flag postmortem wording that blames people instead of systems.

The seed: "If a person made a mistake, the system allowed it." Two kinds of wording are flagged,
both from the word lists in `tocsin/data/blameless.yaml` (kept out of code so they can grow
without a code change):

- blaming phrases wherever they appear ("human error", "should have known", "careless");
- a person as the one who failed: a name, handle or person word as the subject of a blaming
  verb ("Bob forgot", "@carol broke", "the on-call engineer missed"), a person's possessive
  ("Alice's fault") or a person after a blaming preposition ("caused by Bob").

A person is a name or handle the caller passes in `people`, any "@handle", or one of the
lexicon's person words. An unknown capitalised word is not a person: "Kafka broke the consumer
group" describes a system. Matching is lexical, so the rules are simple and predictable rather
than clever: "human error rates in the form" is flagged like any other "human error", because the
suggested rewording (name what let the error through) still applies. Fenced code is skipped.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from tocsin.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Finding:
    """One blaming wording: the sentence's 1-based first line, the sentence and what to write."""

    line: int
    text: str
    phrase: str
    suggestion: str


@dataclass(frozen=True, slots=True)
class Entry:
    """A blaming wording of the lexicon and its system-focused rewording."""

    match: str
    suggest: str


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The word lists of the check (see `tocsin/data/blameless.yaml` for what each one means)."""

    phrases: tuple[Entry, ...]
    person_verbs: tuple[Entry, ...]
    possessives: tuple[Entry, ...]
    before_person: tuple[Entry, ...]
    person_words: tuple[str, ...]
    fillers: tuple[str, ...]


_ENTRY_LISTS = ("phrases", "person_verbs", "possessives", "before_person")
_WORD_LISTS = ("person_words", "fillers")


def parse_lexicon(text: str) -> Lexicon:
    """Return the lexicon in YAML `text`, or raise InvalidInput listing every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the blameless word lists are not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise InvalidInput("the blameless word lists must be a YAML mapping")
    problems = [f"unknown key {key!r}" for key in data if key not in (*_ENTRY_LISTS, *_WORD_LISTS)]
    entries = {key: _entries(data.get(key), key, problems) for key in _ENTRY_LISTS}
    words = {key: _words(data.get(key), key, problems) for key in _WORD_LISTS}
    for entry in entries["possessives"]:
        if not entry.match.startswith("'s "):
            problems.append(f'possessives: {entry.match!r} must start with "\'s "')
    if problems:
        raise InvalidInput.of(problems)
    return Lexicon(
        phrases=entries["phrases"],
        person_verbs=entries["person_verbs"],
        possessives=entries["possessives"],
        before_person=entries["before_person"],
        person_words=words["person_words"],
        fillers=words["fillers"],
    )


def _entries(value: Any, key: str, problems: list[str]) -> tuple[Entry, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(f"{key}: must be a list")
        return ()
    found: list[Entry] = []
    for index, item in enumerate(value, start=1):
        match = item.get("match") if isinstance(item, Mapping) else None
        suggest = item.get("suggest") if isinstance(item, Mapping) else None
        if isinstance(match, str) and match.strip() and isinstance(suggest, str) and suggest:
            found.append(Entry(" ".join(match.split()), suggest.strip()))
        else:
            problems.append(f"{key}[{index}]: needs a non-empty 'match' and 'suggest'")
    return tuple(found)


def _words(value: Any, key: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
        problems.append(f"{key}: must be a list of non-empty strings")
        return ()
    return tuple(" ".join(word.split()) for word in value)


def check(text: str, *, lexicon: Lexicon, people: Iterable[str] = ()) -> list[Finding]:
    """Return the blaming wordings of `text`, one per (line, phrase), in reading order.

    The caller reads the lexicon (`parse_lexicon` of `tocsin/data/blameless.yaml`): the core
    reads no files.
    """
    names = tuple(sorted({n.strip().lstrip("@").lower() for n in people if n} - {""}))
    matchers = _matchers(lexicon, names)
    findings: list[Finding] = []
    seen: set[tuple[int, str]] = set()
    for line, sentence in _sentences(text):
        hits = [
            (hit.start("hit"), hit.end("hit"), entry)
            for pattern, entries in matchers
            for hit in pattern.finditer(sentence)
            if (entry := _entry(entries, hit.group("hit"))) is not None
        ]
        # Overlapping hits are one wording ("Bob should have known" is "should have known", not
        # also "should have"): keep the earliest, then the longest.
        end = -1
        for start, stop, entry in sorted(hits, key=lambda h: (h[0], h[0] - h[1])):
            if start < end:
                continue
            end = stop
            if (line, entry.match) not in seen:
                seen.add((line, entry.match))
                findings.append(Finding(line, sentence, entry.match, entry.suggest))
    return findings


def _core(phrase: str) -> str:
    """Return the regex of a lexicon wording (the spelling variants the YAML header lists)."""
    parts: list[str] = []
    for index, token in enumerate(phrase.split()):
        if index and token.lower() == "have":
            parts.append(r"(?:\s+have|['\u2019]ve)")
            continue
        stem, negated = (token[:-3], True) if token.lower().endswith("n't") else (token, False)
        spelled = "".join(
            r"['\u2019]" if char in "'\u2019" else r"[-\s]?" if char == "-" else re.escape(char)
            for char in stem
        )
        if negated:
            spelled += r"(?:n['\u2019]?t|\s+not)"
        parts.append((r"\s+" if index else "") + spelled)
    return "".join(parts)


def _alternatives(patterns: Iterable[str]) -> str:
    # Longest first, so a wording is never cut short by another that is its prefix.
    return "|".join(sorted(patterns, key=len, reverse=True))


def _trie(words: Iterable[str]) -> str:
    """Return a regex matching any of `words`, factored by prefix (fast with many names)."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [
            (r"\s+" if char == " " else re.escape(char)) + build(child)
            for char, child in sorted(node.items())
            if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" not in node:
            return body
        return f"(?:{body})?" if len(branches) == 1 else body[:-1] + ")?"

    return build(root)


# A compiled pattern whose group "hit" is the blaming wording, and the entries it stands for,
# each with the pattern that tells whether a hit is that entry's wording.
_Matcher = tuple[re.Pattern[str], tuple[tuple[re.Pattern[str], Entry], ...]]


def _entry(entries: tuple[tuple[re.Pattern[str], Entry], ...], hit: str) -> Entry | None:
    """Return the entry whose wording `hit` is (the first one, should two spell it alike)."""
    if len(entries) == 1:
        return entries[0][1]
    return next((entry for each, entry in entries if each.fullmatch(hit)), None)


def _matcher(template: str, entries: tuple[Entry, ...]) -> list[_Matcher]:
    """Return one pattern for all `entries`: `template` with their wordings in place of {}."""
    if not entries:
        return []
    wordings = {entry: _core(entry.match) + "s?" for entry in entries}
    pattern = template.replace("{}", f"(?P<hit>{_alternatives(wordings.values())})")
    each = tuple((re.compile(wordings[entry], re.IGNORECASE), entry) for entry in entries)
    return [(re.compile(pattern, re.IGNORECASE), each)]


@functools.lru_cache(maxsize=32)
def _matchers(lexicon: Lexicon, names: tuple[str, ...]) -> tuple[_Matcher, ...]:
    """Return the compiled patterns of `lexicon` with `names` as people."""
    person = _alternatives(
        [
            *([f"@?{_trie(' '.join(name.split()) for name in names)}"] if names else []),
            *(_core(word) + "s?" for word in lexicon.person_words),
            r"@\w(?:[\w.-]*\w)?",
        ]
    )
    one = rf"(?<![\w@])(?:{person})"
    # The subject: a person not followed by a possessive ("Bob's fix" is a fix, not Bob),
    # possibly several ("Bob and Dave", "Bob, Carol and Dave").
    subject_one = rf"{one}(?![\w'\u2019-])"
    subject = rf"{subject_one}(?:(?:\s*,\s*(?:(?:and|or)\s+)?|\s+(?:and|&|or)\s+){subject_one})*"
    aside = r"(?:\s*\([^()]{0,80}\)|\s*,[^,;:.!?()]{1,80},)?"
    fillers = ""
    if lexicon.fillers:
        filler = _alternatives(_core(word) for word in lexicon.fillers)
        fillers = rf"(?:\s+(?:{filler})(?!\w))" + "{0,3}"
    determiner = r"(?:(?:the|a|an|our|their|his|her)\s+)?"
    return (
        *(m for entry in lexicon.phrases for m in _matcher(r"(?<!\w){}(?!\w)", (entry,))),
        *_matcher(rf"{subject}{aside}{fillers}\s+{{}}(?!\w)", lexicon.person_verbs),
        *_matcher(rf"{one}{{}}(?!\w)", lexicon.possessives),
        *_matcher(rf"(?<!\w){{}}\s+{determiner}{one}(?![\w-])", lexicon.before_person),
    )


_FENCE = re.compile(r"^(`{3,}|~{3,})")
_QUOTE = re.compile(r"^(?:>\s?)+")
_BLOCK_START = re.compile(r"^(?:#{1,6}(?:\s+|$)|[-*+]\s+|\d{1,9}[.)]\s+|\|)")
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s|$)")


def _sentences(text: str) -> Iterator[tuple[int, str]]:
    """Yield (first line, whitespace-collapsed text) of every prose sentence in Markdown `text`."""
    block: list[tuple[int, str]] = []
    fence: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _QUOTE.sub("", raw.strip()).strip()
        if fence is not None:
            if line.startswith(fence) and not line.strip(fence[0]):
                fence = None
            continue
        opening = _FENCE.match(line)
        if opening or not line:
            yield from _split(block)
            block = []
            fence = opening.group(1) if opening else None
            continue
        start = _BLOCK_START.match(line)
        if start:
            # A heading, list item or table row starts a new sentence even without a full stop.
            yield from _split(block)
            block = []
            if not start.group().startswith("|"):
                line = line[start.end() :]
        block.append((number, line))
    yield from _split(block)


def _split(block: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    starts: list[int] = []
    joined = ""
    for _, line in block:
        starts.append(len(joined))
        joined += line + " "
    begin = 0
    ends = [match.end() for match in _SENTENCE_END.finditer(joined)]
    for end in [*ends, len(joined)]:
        piece = joined[begin:end]
        if piece.strip():
            offset = begin + len(piece) - len(piece.lstrip())
            yield block[bisect.bisect_right(starts, offset) - 1][0], " ".join(piece.split())
        begin = end
