"""Runbooks: one Markdown page per service, read into symptoms, checks, fixes and escalation.

The seed's structure:

    # Runbook: api-gateway
    ## Symptoms                 bullet items
    ## Initial Checks           numbered steps
    ## Common Fixes
    ### Issue: All 502 errors   a scenario (slug "all-502-errors") of numbered steps
    ## Escalation               bullet items

`parse` never raises: runbooks are hand-written, so it records whatever it recognises (with line
numbers) and `check` turns what is missing or malformed into "path:line: message" problems.
Section headings match case-insensitively and ignore trailing colons; steps are `1.` or `1)`,
items `-`, `*` or `+`. A step's commands are its inline code spans, plus each line of a fenced
code block inside the step (a long command is often written as a block rather than a span).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from tocsin.errors import InvalidInput


class Section(StrEnum):
    """A section every runbook has; the value is its heading text."""

    SYMPTOMS = "Symptoms"
    INITIAL_CHECKS = "Initial Checks"
    COMMON_FIXES = "Common Fixes"
    ESCALATION = "Escalation"

    @property
    def heading(self) -> str:
        """Return the Markdown heading of the section ("## Common Fixes")."""
        return f"## {self.value}"


@dataclass(frozen=True, slots=True)
class Step:
    """One numbered step: its number as written, its text and the commands it shows."""

    number: int
    text: str
    commands: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Scenario:
    """One "### Issue:" of Common Fixes and the steps that fix it."""

    name: str
    slug: str
    steps: tuple[Step, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Runbook:
    """What `parse` found in a runbook; `title_line` is 0 when there is no "# " heading at all."""

    service: str | None
    title_line: int
    symptoms: tuple[str, ...]
    initial_checks: tuple[Step, ...]
    scenarios: tuple[Scenario, ...]
    escalation: tuple[str, ...]
    # Every "## " heading in order, as written (trailing colons dropped), duplicates included.
    sections: tuple[tuple[str, int], ...]

    def section_line(self, section: Section | str) -> int | None:
        """Return the line of the first heading naming `section`, or None when it is missing."""
        wanted = _section_key(section)
        return next((line for name, line in self.sections if _section_key(name) == wanted), None)


_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_TITLE = re.compile(r"^runbook\s*:\s*(.*)$", re.IGNORECASE)
_ISSUE = re.compile(r"^issue\s*:\s*(.*)$", re.IGNORECASE)
_NUMBERED = re.compile(r"^( *)(\d{1,9})[.)](?:[ \t]+(.*))?$")
_BULLET = re.compile(r"^( *)[-*+](?:[ \t]+(.*))?$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"^( *)(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_SLUG_GAP = re.compile(r"[\W_]+")
_REFERENCE = re.compile(r"^([^\s#]+)#([^#]+)$")

# A list item's continuation lines are indented at least this much (CommonMark needs the marker
# width; two spaces is what every editor produces for "- " and close enough for "1. ").
_NESTED = 2


def slugify(name: str) -> str:
    """Return the slug of a scenario name: lowercase, runs of non-alphanumerics as one '-'."""
    return _SLUG_GAP.sub("-", name.lower()).strip("-")


def _section_key(name: str) -> str:
    return " ".join(name.rstrip(" \t:").split()).lower()


_SECTION_BY_KEY = {_section_key(section.value): section for section in Section}


@dataclass(slots=True)
class _Item:
    """A list item being read: its text lines and the fenced code found inside it."""

    line: int
    number: int | None
    indent: int
    text: list[str] = field(default_factory=list)
    # (index into `text` the block follows, its lines): keeps commands in reading order.
    blocks: list[tuple[int, list[str]]] = field(default_factory=list)

    def joined(self) -> str:
        return " ".join(part for part in self.text if part)

    def commands(self) -> tuple[str, ...]:
        found: list[str] = []
        start = 0
        for at, lines in [*self.blocks, (len(self.text), [])]:
            chunk = " ".join(self.text[start:at])
            found += [span.group(2).strip() for span in _CODE_SPAN.finditer(chunk)]
            found += [line.strip() for line in lines if line.strip()]
            start = at
        return tuple(command for command in found if command)

    def step(self) -> Step:
        return Step(self.number or 0, self.joined(), self.commands(), self.line)


@dataclass(slots=True)
class _Scenario:
    name: str
    line: int
    steps: list[Step] = field(default_factory=list)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        yield number, line.expandtabs(4)


def parse(text: str) -> Runbook:
    """Return what the runbook Markdown `text` holds; never raises on odd Markdown."""
    service: str | None = None
    title_line = 0
    sections: list[tuple[str, int]] = []
    lists: dict[Section, list[_Item]] = {section: [] for section in Section}
    scenarios: list[_Scenario] = []
    current: Section | None = None
    scenario: _Scenario | None = None
    item: _Item | None = None
    blank_before = False
    fence: tuple[str, list[str]] | None = None  # (closing marker, lines) while inside a fence

    def close_item() -> None:
        nonlocal item
        if item is not None and current is Section.COMMON_FIXES:
            if scenario is not None:
                scenario.steps.append(item.step())
        elif item is not None and current is not None:
            lists[current].append(item)
        item = None

    for number, line in _lines(text):
        stripped = line.strip()
        if fence is not None:
            marker, code = fence
            if stripped.startswith(marker) and not stripped.strip(marker[0]):
                fence = None
                if item is not None:
                    item.blocks.append((len(item.text), code))
            else:
                code.append(line)
            continue
        opening = _FENCE.match(line)
        if opening:
            if item is not None and blank_before and len(opening.group(1)) < _NESTED:
                close_item()
            fence = (opening.group(2), [])
            blank_before = False
            continue
        if not stripped:
            blank_before = True
            continue
        heading = _HEADING.match(line)
        if heading:
            close_item()
            blank_before = False
            level, title = len(heading.group(1)), (heading.group(2) or "").strip()
            if level == 1:
                current, scenario = None, None
                if not title_line:
                    title_line = number
                    found = _TITLE.match(title)
                    if found:
                        service = found.group(1).strip().strip("`").strip() or None
            elif level == 2:
                scenario = None
                name = title.rstrip(" \t:")
                sections.append((name, number))
                current = _SECTION_BY_KEY.get(_section_key(name))
            elif level == 3 and current is Section.COMMON_FIXES:
                issue = _ISSUE.match(title)
                scenario = _Scenario(issue.group(1).strip(), number) if issue else None
                if scenario is not None:
                    scenarios.append(scenario)
            continue
        if _RULE.match(line):
            close_item()
            continue
        numbered, bullet = _NUMBERED.match(line), _BULLET.match(line)
        listed = numbered or bullet
        indent = len(listed.group(1)) if listed else len(line) - len(line.lstrip())
        nested = item is not None and indent >= item.indent + _NESTED
        if listed and not nested:
            close_item()
            content = (numbered.group(3) if numbered else bullet.group(2) if bullet else None) or ""
            is_step = numbered is not None
            wanted = current is not None and (
                current in (Section.SYMPTOMS, Section.ESCALATION) or is_step
            )
            if wanted:
                item = _Item(number, int(numbered.group(2)) if numbered else None, indent)
                item.text.append(content.strip())
        elif item is not None and (nested or not blank_before):
            # A nested item or a wrapped line belongs to the item above it.
            item.text.append(_strip_marker(stripped))
        else:
            close_item()
        blank_before = False
    if fence is not None and item is not None:
        item.blocks.append((len(item.text), fence[1]))
    close_item()

    return Runbook(
        service=service,
        title_line=title_line,
        symptoms=tuple(i.joined() for i in lists[Section.SYMPTOMS] if i.joined()),
        initial_checks=tuple(i.step() for i in lists[Section.INITIAL_CHECKS]),
        scenarios=tuple(
            Scenario(s.name, slugify(s.name), tuple(s.steps), s.line) for s in scenarios
        ),
        escalation=tuple(i.joined() for i in lists[Section.ESCALATION] if i.joined()),
        sections=tuple(sections),
    )


def _strip_marker(stripped: str) -> str:
    numbered, bullet = _NUMBERED.match(stripped), _BULLET.match(stripped)
    if numbered:
        return (numbered.group(3) or "").strip()
    if bullet:
        return (bullet.group(2) or "").strip()
    return stripped


def check(runbook: Runbook, *, path: str, service: str | None = None) -> list[str]:
    """Return every problem of `runbook` as "path:line: message", in line order."""
    problems: list[tuple[int, str]] = []
    expected = service or "<service>"
    if runbook.service is None and not runbook.title_line:
        problems.append((1, f"missing title '# Runbook: {expected}'"))
    elif runbook.service is None:
        problems.append((runbook.title_line, f"title should read '# Runbook: {expected}'"))
    elif service is not None and runbook.service.lower() != service.lower():
        problems.append(
            (runbook.title_line, f"title names service {runbook.service!r}, expected {service!r}")
        )

    first: dict[Section, int] = {}
    for name, line in runbook.sections:
        known = _SECTION_BY_KEY.get(_section_key(name))
        if known is None:
            continue
        if known in first:
            problems.append(
                (line, f"duplicate section '{known.heading}' (first at line {first[known]})")
            )
        else:
            first[known] = line
    for section in Section:
        if section not in first:
            problems.append((1, f"missing section '{section.heading}'"))
    empty = {
        Section.SYMPTOMS: (not runbook.symptoms, "has no items"),
        Section.INITIAL_CHECKS: (not runbook.initial_checks, "has no numbered steps"),
        Section.COMMON_FIXES: (not runbook.scenarios, "has no '### Issue:' scenario"),
        Section.ESCALATION: (not runbook.escalation, "has no items"),
    }
    for section, line in first.items():
        is_empty, what = empty[section]
        if is_empty:
            problems.append((line, f"section '{section.heading}' {what}"))

    for step in runbook.initial_checks:
        if not step.text:
            problems.append((step.line, "empty step"))
    seen: dict[str, int] = {}
    for found in runbook.scenarios:
        label = f"{found.name!r}" if found.name else "(unnamed)"
        if not found.slug:
            problems.append((found.line, "scenario has no name; write '### Issue: <name>'"))
        elif found.slug in seen:
            problems.append(
                (
                    found.line,
                    f"duplicate scenario {found.slug!r} (first at line {seen[found.slug]})",
                )
            )
        else:
            seen[found.slug] = found.line
        if not found.steps:
            problems.append((found.line, f"scenario {label} has no numbered steps"))
        problems += [(step.line, "empty step") for step in found.steps if not step.text]

    # Sorting is stable, so problems on one line keep the order they were found in.
    return [f"{path}:{line}: {message}" for line, message in sorted(problems, key=lambda p: p[0])]


def scenario(runbook: Runbook, slug: str) -> Scenario:
    """Return the scenario called `slug` (or the name it is the slug of), or raise InvalidInput."""
    wanted = slugify(slug)
    for found in runbook.scenarios:
        if found.slug == wanted and wanted:
            return found
    known = ", ".join(found.slug for found in runbook.scenarios if found.slug)
    where = f" in the runbook of {runbook.service}" if runbook.service else ""
    hint = f"; known scenarios: {known}" if known else "; the runbook has no scenarios"
    raise InvalidInput(f"unknown scenario {slug!r}{where}{hint}")


def parse_reference(text: str) -> tuple[str, str]:
    """Return (service, scenario slug) of a reference like "api-gateway#all-502-errors"."""
    match = _REFERENCE.match(text.strip())
    slug = slugify(match.group(2)) if match else ""
    if match is None or not slug:
        raise InvalidInput(
            f"{text!r} is not a runbook reference; write it like api-gateway#all-502-errors"
        )
    return match.group(1), slug
