"""The blameless check: blaming postmortem sentences are flagged, system-focused ones are not."""

from __future__ import annotations

from importlib import resources

import pytest

from tocsin.core.blameless import Finding, Lexicon, parse_lexicon
from tocsin.core.blameless import check as core_check
from tocsin.errors import InvalidInput

# The tests read the shipped word lists themselves: the core reads no files.
SHIPPED = parse_lexicon((resources.files("tocsin") / "data" / "blameless.yaml").read_text())


def check(text: str, *, people: object = (), lexicon: Lexicon | None = None) -> list[Finding]:
    return core_check(text, people=people, lexicon=lexicon or SHIPPED)  # type: ignore[arg-type]


PEOPLE = ("Bob", "bob", "@bob", "Alice", "Carol", "@carol", "Dave", "Eve", "Frank", "@erin.k")

BLAMING = [
    ("Bob forgot to update the config before the deploy.", "forgot"),
    ("@carol broke the build by merging without review.", "broke"),
    ("It was Alice's fault.", "'s fault"),
    ("The outage was caused by human error.", "human error"),
    ("Dave should have known the feature flag was still on.", "should have known"),
    ("A careless change to the firewall rules took down ingress.", "careless"),
    ("Bob failed to follow the deploy checklist.", "failed to"),
    ("The on-call engineer missed the page.", "missed"),
    ("Carol neglected to run the migration in staging first.", "neglected"),
    ("Eve caused the outage when she restarted the wrong cluster.", "caused"),
    ("Frank messed up the DNS records during the cut-over.", "messed up"),
    ("Bob didn't check the diff before applying it.", "didn't check"),
    ("bob did not test the rollback.", "didn't test"),
    ("Alice ignored the disk-space warning for two days.", "ignored"),
    ("Someone fat-fingered the replica count.", "fat-fingered"),
    ("The incident was caused by Bob.", "caused by"),
    ("The deploy was broken by @dave.", "broken by"),
    ("Carol wasn't paying attention during the failover.", "wasn't paying attention"),
    ("Bob and Dave overlooked the expiring certificate.", "overlooked"),
    ("Root cause: operator error during the manual failover.", "operator error"),
    ("@erin.k accidentally deleted the production bucket.", "accidentally"),
    ("Bob, the on-call engineer, forgot to silence the maintenance alert.", "forgot"),
    ("It was the developer's mistake.", "'s mistake"),
    ("Alice was at fault for the bad deploy.", "was at fault"),
    ("Bob should've double-checked the target region.", "should have"),
    ("The intern dropped the ball on the certificate renewal.", "dropped the ball"),
    ("Bob must have forgotten the feature flag.", "forgotten"),
    ("Carol, Dave and Eve missed the capacity alerts all week.", "missed"),
    # Decided: flagged. The phrase is matched lexically, and the suggestion still applies: a
    # form with a high "human error rate" is one that lets bad input through.
    ("human error rates in the data entry form", "human error"),
]

BLAMELESS = [
    "The deploy pipeline did not validate nginx.conf before rollout.",
    "Alice rolled back the deployment at 14:32.",
    "The config change removed the proxy_pass directive.",
    "Bob noticed the alert and paged the database team.",
    "Bob's fix restored traffic within ten minutes.",
    "The alert missed the threshold because the query window was too short.",
    "The canary broke on the first request, so the rollout halted.",
    "A missing guardrail let a manual change reach production.",
    "The load balancer's fault tolerance masked the failing node.",
    "Carol's migration failed to acquire the lock.",
    "The health check failed to detect the half-open connections.",
    "Alice did not have access to the production dashboard during the incident.",
    "No one is to blame; the runbook did not cover this failure mode.",
    "@dave acknowledged the page two minutes after it fired.",
    "The retry logic forgot the original deadline after a reconnect.",
    "She restarted the primary, which cleared the lock.",
    "The rollout tooling made the mistake easy: a single flag targets every region.",
    "Human review was not required for config-only deploys.",
    "Error rates for human-initiated requests rose to 4%.",
    "Bob, who was on call, rolled back the change.",
    "Kafka broke the consumer group rebalance when the broker restarted.",
    "The Postgres operator failed to promote the replica.",
    "Staging and dev broke after the upgrade.",
    "The parser's error handling swallowed the exception.",
    "If a person made a mistake, the system allowed it.",
]


@pytest.mark.parametrize(("sentence", "phrase"), BLAMING, ids=[s for s, _ in BLAMING])
def test_blaming_sentences_are_flagged_with_the_phrase(sentence: str, phrase: str) -> None:
    findings = check(sentence, people=PEOPLE)
    assert [f.phrase for f in findings] == [phrase]
    assert findings[0].line == 1
    assert findings[0].text == sentence
    assert findings[0].suggestion


@pytest.mark.parametrize("sentence", BLAMELESS)
def test_system_focused_sentences_are_not_flagged(sentence: str) -> None:
    assert check(sentence, people=PEOPLE) == []


def test_the_lists_are_big_enough_to_mean_something() -> None:
    assert len(BLAMING) >= 15
    assert len(BLAMELESS) >= 15


def test_a_name_is_a_person_only_when_the_caller_says_so() -> None:
    # Without the directory "Bob" could be a service; an @handle is always a person.
    assert check("Bob forgot to update the config.") == []
    assert [f.phrase for f in check("@bob forgot to update the config.")] == ["forgot"]
    assert [f.phrase for f in check("BOB forgot it.", people=["@bob"])] == ["forgot"]
    assert [f.phrase for f in check("Alice Smith forgot it.", people=["Alice Smith"])] == ["forgot"]


def test_a_name_inside_a_longer_word_is_not_the_person() -> None:
    assert check("Bobby forgot it. Carolina missed it.", people=["Bob", "Carol"]) == []
    assert check("The bob-bot broke the build.", people=["bob"]) == []


def test_line_is_where_the_sentence_starts_and_each_line_phrase_is_reported_once() -> None:
    text = "\n".join(
        [
            "# Postmortem: checkout outage",  # 1
            "",  # 2
            "At 14:02 the config change removed proxy_pass. Bob noticed the alert",  # 3
            "and paged Carol. The on-call engineer",  # 4
            "forgot to silence the maintenance alert. That was human error. Human error again!",
            "",  # 6
            "- Bob forgot the flag",  # 7
            "- Alice rolled back",  # 8
        ]
    )
    assert check(text, people=PEOPLE) == [
        Finding(
            4,
            "The on-call engineer forgot to silence the maintenance alert.",
            "forgot",
            "name the checklist, reminder or automation that was missing",
        ),
        Finding(
            5,
            "That was human error.",
            "human error",
            "name the missing guardrail: what let the error through?",
        ),
        Finding(
            7,
            "Bob forgot the flag",
            "forgot",
            "name the checklist, reminder or automation that was missing",
        ),
    ]


def test_two_wordings_in_one_sentence_are_two_findings_but_an_overlap_is_one() -> None:
    findings = check("Bob was careless and Carol forgot the flag.", people=PEOPLE)
    assert [f.phrase for f in findings] == ["careless", "forgot"]
    findings = check("Bob forgot the flag; it was human error.", people=PEOPLE)
    assert [f.phrase for f in findings] == ["forgot", "human error"]
    findings = check("Dave should have known.", people=PEOPLE)
    assert [f.phrase for f in findings] == ["should have known"]


def test_fenced_code_is_not_prose_but_block_quotes_are() -> None:
    text = "```\n# Bob forgot\nhuman error\n```\n> Carol: I think @dave broke it.\n"
    assert [(f.line, f.phrase) for f in check(text, people=PEOPLE)] == [(5, "broke")]


def test_curly_apostrophes_and_plurals_match() -> None:
    assert [f.phrase for f in check("It was Alice\u2019s fault.", people=PEOPLE)] == ["'s fault"]
    assert [f.phrase for f in check("Bob didn\u2019t verify it.", people=PEOPLE)] == [
        "didn't verify"
    ]
    assert [f.phrase for f in check("Two human errors compounded.")] == ["human error"]


def test_the_packaged_word_lists_load_and_every_entry_has_a_suggestion() -> None:
    lexicon = SHIPPED
    entries = [
        *lexicon.phrases,
        *lexicon.person_verbs,
        *lexicon.possessives,
        *lexicon.before_person,
    ]
    assert {"human error", "should have known", "careless", "forgot"} <= {e.match for e in entries}
    assert all(entry.suggest for entry in entries)
    assert len({entry.match for entry in entries}) == len(entries)
    assert lexicon.person_words
    assert lexicon.fillers


def test_a_custom_lexicon_replaces_the_packaged_one() -> None:
    lexicon = parse_lexicon(
        "phrases:\n  - {match: root cause, suggest: say contributing factors}\n"
        "person_words: [the pilot]\n"
    )
    assert [f.phrase for f in check("The root cause was DNS.", lexicon=lexicon)] == ["root cause"]
    assert check("Bob forgot it. Human error.", people=PEOPLE, lexicon=lexicon) == []


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("- a\n- b\n", ["the blameless word lists must be a YAML mapping"]),
        (
            "phrases: [{match: x}]\nnouns: []\nfillers: [1]\n",
            [
                "unknown key 'nouns'",
                "phrases[1]: needs a non-empty 'match' and 'suggest'",
                "fillers: must be a list of non-empty strings",
            ],
        ),
        (
            "possessives: [{match: fault, suggest: y}]\n",
            ["possessives: 'fault' must start with \"'s \""],
        ),
    ],
)
def test_a_malformed_lexicon_lists_every_problem(text: str, problems: list[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_lexicon(text)
    assert caught.value.problems == problems


def test_invalid_yaml_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="not valid YAML"):
        parse_lexicon("phrases: [")
