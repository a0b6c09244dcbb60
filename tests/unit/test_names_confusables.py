"""Tool and prompt names that look like, or hide inside, a name the policy mentions.

Two defences (README "Tool names"): ALLOW globs cover only names in the MCP tool-name character set, and a
name that only a glob allows is denied when it is a look-alike of a name a restricting rule names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lilith.policy import lookalikes
from lilith.policy.confusables import skeleton
from lilith.policy.globs import translate_glob
from lilith.policy.loader import Policy, parse_policy
from lilith.policy.names import MAX_TOOL_NAME_LENGTH, TOOL_NAME_CHARS, NameMatcher, is_spec_tool_name
from lilith.policy.patterns import compile_regex

BENIGN = Path(__file__).resolve().parents[1] / "benign"

DENYLIST = """\
version: 1
static_rules:
  "*": ALLOW
  delete_file: DENY
  "drop_*": DENY
argument_rules:
  - {tool: read_file, arg: path, path_within: [/srv]}
  - {tool: "git_*", arg: "**", no_leading_dash: true}
"""


def _policy(text: str) -> Policy:
    return parse_policy(text, "p.yaml")


# --- skeletons --------------------------------------------------------------------------------------

CONFUSABLE_WITH_DELETE_FILE = [
    "DELETE_FILE",  # case
    "Delete_File",
    "dеlete_file",  # Cyrillic е
    "dеlеtе_fіlе",  # several Cyrillic letters
    "ｄｅｌｅｔｅ_file",  # fullwidth
    "𝐝𝐞𝐥𝐞𝐭𝐞_file",  # mathematical bold
    "delete_file\u200b",  # zero-width space
    "\u200ddelete_file",  # zero-width joiner
    "delete_file\ufeff",  # BOM
    "delete_file\U000e0069\U000e0067",  # tag characters
    "delete\u00ad_file",  # soft hyphen
    "\u2066delete_file\u2069",  # bidi isolates
    "delete_file ",  # trailing space
    "delete_fi\u200cle",  # zero-width non-joiner
    "dеlete_filе\ufe0f",  # variation selector
    "DΕLΕΤΕ_FΙLΕ",  # Greek capitals
]


@pytest.mark.parametrize("name", CONFUSABLE_WITH_DELETE_FILE)
def test_look_alikes_share_the_skeleton_of_the_name_they_imitate(name: str) -> None:
    assert skeleton(name) == skeleton("delete_file") == "delete_file"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("send_email", "ſend_email"),  # long s folds to s
        ("echo", "echο"),  # Greek omicron
        ("read-file", "read\u2010file"),  # hyphen U+2010
        ("kelvin", "\u212aelvin"),  # Kelvin sign
        ("read_file", "rеad_filе"),
    ],
)
def test_confusable_pairs(a: str, b: str) -> None:
    assert skeleton(a) == skeleton(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("modem", "modern"),  # rn/m: ASCII is never mapped to other ASCII
        ("log1", "logl"),
        ("c0de", "code"),
        ("resume", "résumé"),  # a letter with a mark is another letter
        ("read_file", "read-file"),
        ("read_file", "read.file"),
        ("git_push", "git_pull"),
    ],
)
def test_distinct_names_stay_distinct(a: str, b: str) -> None:
    assert skeleton(a) != skeleton(b)


def test_ascii_fast_path_agrees_with_the_full_computation() -> None:
    # The ASCII shortcut must give what NFKC + table + casefold + removal would give.
    for name in ("Read_File", "a b\tc", "DATA_EXPORT_v2", "admin.tools.list", "x\x7fy"):
        assert skeleton(name) == skeleton(name + "\u200b")


# --- the tool-name character set for ALLOW globs --------------------------------------------------------


def test_spec_tool_names() -> None:
    assert is_spec_tool_name("getUser") and is_spec_tool_name("DATA_EXPORT_v2") and is_spec_tool_name("a.b-c")
    assert is_spec_tool_name("x" * MAX_TOOL_NAME_LENGTH)
    assert not is_spec_tool_name("x" * (MAX_TOOL_NAME_LENGTH + 1))
    assert not is_spec_tool_name("")
    for bad in ("read file", "read/file", "read,file", "rеad", "read\u200b", "réad", "read\x00"):
        assert not is_spec_tool_name(bad), bad


@pytest.mark.parametrize(
    ("glob", "name", "allowed"),
    [
        ("read_*", "read_file", True),
        ("read_*", "read_file\u200b", False),
        ("read_*", "read_fіle", False),  # Cyrillic і
        ("read_*", "read_a/b", False),  # '/' is not a tool-name character (MCP 2025-11-25)
        ("read_*", "read_" + "x" * (MAX_TOOL_NAME_LENGTH - 5), True),
        ("read_*", "read_" + "x" * (MAX_TOOL_NAME_LENGTH - 4), False),
        ("*", "", False),
        ("?", "\u200b", False),
        ("git_[!l]*", "git_push", True),
        ("git_[!l]*", "git_\u200bpush", False),  # a negated class is narrowed to the character set too
        ("git_[\u200b-\u200d]x", "git_\u200bx", False),  # so is a class spelling invisible characters
        ("a\\*b", "a*b", True),  # characters written literally still match themselves
        ("review *", "review code", True),
        ("review *", "review code\u200b", False),
        ("[!A-Za-z0-9_.-]", "x", False),  # a class with no member left matches nothing
        ("[!A-Za-z0-9_.-]", " ", False),
    ],
)
def test_allow_globs_cover_only_tool_name_characters(glob: str, name: str, allowed: bool) -> None:
    assert NameMatcher(glob).matches_for_allow(name) is allowed


def test_matching_as_written_is_unchanged_for_restricting_rules() -> None:
    # A DENY, BLOCK, argument, rate or taint glob still covers a name with invisible characters.
    assert NameMatcher("read_*").matches("read_file\u200b")
    assert NameMatcher("git_[!l]*").matches("git_\u200bpush")


@given(st.text(max_size=12), st.sampled_from(["*", "read_*", "?ead_*", "[a-z]*", "*_[!x]*", "a?c"]))
def test_an_ascii_allow_glob_only_ever_allows_spec_names(name: str, glob: str) -> None:
    matcher = NameMatcher(glob)
    if matcher.matches_for_allow(name):
        assert is_spec_tool_name(name)
        assert matcher.matches(name)  # never more than the glob as written
    elif is_spec_tool_name(name):
        assert not matcher.matches(name)  # and nothing less for names in the set


def test_confined_translation_is_a_valid_re2_pattern_for_every_wildcard() -> None:
    for glob in ("*", "?", "[abc]", "[!abc]", "[a-z]", "[!\x00-\U0010ffff]", "x\\*"):
        compile_regex(translate_glob(glob, wildcards=TOOL_NAME_CHARS))


# --- static_rules: look-alikes of denied and restricted names -------------------------------------------


@pytest.mark.parametrize("name", ["DELETE_FILE", "Delete_File", "delete_File"])
def test_a_case_variant_of_a_denied_tool_is_denied_under_a_broad_allow(name: str) -> None:
    decision = _policy(DENYLIST).static_rules.decide(name)
    assert not decision.allowed
    assert decision.rule == "static_rules.confusable"
    assert decision.reason == f"tool '{name}' imitates 'delete_file' (denied by static_rules)"


@pytest.mark.parametrize("name", [n for n in CONFUSABLE_WITH_DELETE_FILE if not is_spec_tool_name(n)])
def test_non_ascii_look_alikes_are_not_covered_by_the_allow_glob(name: str) -> None:
    decision = _policy(DENYLIST).static_rules.decide(name)
    assert not decision.allowed
    assert decision.rule == "default-deny"
    assert "ASCII letters, digits" in decision.reason  # tells the operator why "*" did not allow it


def test_a_deny_glob_also_denies_names_whose_skeleton_it_matches() -> None:
    decide = _policy(DENYLIST).static_rules.decide
    assert decide("drop_table").rule == "static_rules.drop_*"
    denied = decide("DROP_table")
    assert (denied.allowed, denied.rule) == (False, "static_rules.confusable")
    assert "imitates names matching 'drop_*' (denied by static_rules)" in denied.reason
    assert decide("dropper").allowed


def test_a_deny_glob_written_in_capitals_is_compared_in_skeleton_form() -> None:
    decide = _policy('version: 1\nstatic_rules:\n  "*": ALLOW\n  "Drop_*": DENY\n').static_rules.decide
    assert decide("Drop_x").rule == "static_rules.Drop_*"
    assert decide("drop_x").rule == "static_rules.confusable"


def test_look_alikes_of_tools_with_argument_rules_are_denied() -> None:
    decide = _policy(DENYLIST).static_rules.decide
    assert decide("read_file").allowed and decide("git_log").allowed
    read = decide("READ_FILE")
    assert (read.allowed, read.rule) == (False, "static_rules.confusable")
    assert read.reason == "tool 'READ_FILE' imitates 'read_file' (restricted by argument_rules)"
    git = decide("GIT_log")  # escapes the git_* argument rule, which matches its skeleton only
    assert (git.allowed, git.rule) == (False, "static_rules.confusable")
    assert "'git_*' (restricted by argument_rules)" in git.reason


@pytest.mark.parametrize(
    ("section", "what"),
    [
        ("taint_rules:\n  - {tool: read_file, action: ADD_TAINT, tag: PRIVATE}\n", "restricted by taint_rules"),
        ("taint_rules:\n  - {tool: read_file, action: BLOCK}\n", "restricted by taint_rules"),
        ("tool_classes:\n  read_file: [EXFILTRATION]\n", "classified by tool_classes"),
        ("rate_limits:\n  - {tool: read_file, max_calls: 1, per_seconds: 60}\n", "restricted by rate_limits"),
    ],
)
def test_look_alikes_of_tools_other_sections_restrict_are_denied(section: str, what: str) -> None:
    decide = _policy('version: 1\nstatic_rules:\n  "*": ALLOW\n' + section).static_rules.decide
    assert decide("read_file").allowed
    assert decide("Read_File").reason == f"tool 'Read_File' imitates 'read_file' ({what})"


def test_relaxing_taint_rules_protect_nothing() -> None:
    text = 'version: 1\nstatic_rules:\n  "*": ALLOW\ntaint_rules:\n  - {tool: clear, action: REMOVE_TAINT, tag: X}\n'
    assert _policy(text).static_rules.decide("CLEAR").allowed


def test_an_exact_allow_of_that_very_spelling_is_not_second_guessed() -> None:
    decide = _policy(
        DENYLIST.replace("delete_file: DENY", "delete_file: DENY\n  Delete_File: ALLOW")
    ).static_rules.decide
    assert decide("Delete_File").rule == "static_rules.Delete_File"
    assert decide("DELETE_FILE").rule == "static_rules.confusable"


def test_an_exact_allow_is_the_only_way_to_allow_a_name_outside_the_character_set() -> None:
    text = 'version: 1\nstatic_rules:\n  "*": ALLOW\n  "wiki page": ALLOW\n'
    decide = _policy(text).static_rules.decide
    assert decide("wiki page").allowed
    assert decide("wiki page2").rule == "default-deny"


def test_allow_lists_are_unaffected() -> None:
    decide = _policy('version: 1\nstatic_rules:\n  "git_*": ALLOW\n  git_push: DENY\n').static_rules.decide
    assert decide("git_log").allowed
    assert decide("git_push").rule == "static_rules.git_push"
    assert decide("git_push\u200b").rule == "default-deny"
    assert decide("Git_push").rule == "default-deny"


def test_tools_list_filtering_uses_the_same_decisions() -> None:
    policy = _policy(DENYLIST)
    visible = [
        name for name in ("echo", "read_file", "READ_FILE", "delete_file", "Delete_File") if policy.tool_visible(name)
    ]
    assert visible == ["echo", "read_file"]
    audit = _policy("mode: audit\n" + DENYLIST)  # audit mode lists everything and records would-deny
    assert audit.tool_visible("Delete_File")
    assert audit.static_rules.decide("Delete_File").rule == "static_rules.confusable"


def test_a_name_skeleton_is_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = _policy(DENYLIST)
    seen: list[str] = []

    def counting(text: str) -> str:
        seen.append(text)
        return skeleton(text)

    monkeypatch.setattr(lookalikes, "skeleton", counting)
    for _ in range(3):
        assert not policy.static_rules.decide("Delete_File").allowed
        assert policy.tool_visible("echo")
    assert seen == ["Delete_File", "echo"]


def test_names_allowed_exactly_or_denied_need_no_skeleton(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = _policy(DENYLIST.replace('"*": ALLOW', '"*": ALLOW\n  echo: ALLOW'))
    monkeypatch.setattr(lookalikes, "skeleton", lambda text: pytest.fail(f"skeleton of {text!r}"))
    assert policy.static_rules.decide("echo").allowed
    assert not policy.static_rules.decide("delete_file").allowed
    assert not policy.static_rules.decide("x\u200b").allowed


# --- prompts --------------------------------------------------------------------------------------------

PROMPTS = """\
version: 1
prompt_rules:
  - {prompt: review_secret, action: BLOCK}
  - {prompt: "review_*", action: ALLOW}
  - {prompt: "*", action: ALLOW}
"""


def test_prompt_allow_globs_cover_only_tool_name_characters() -> None:
    prompts = _policy(PROMPTS).prompt_rules
    assert prompts is not None
    assert prompts.decide("review_code").allowed
    assert prompts.decide("review_code\u200b").rule == "prompt-default-deny"
    assert prompts.decide("rеview_code").rule == "prompt-default-deny"


def test_a_look_alike_of_a_blocked_prompt_is_denied() -> None:
    prompts = _policy(PROMPTS).prompt_rules
    assert prompts is not None
    assert prompts.decide("review_secret").rule == "prompt_rules[0]"
    denied = prompts.decide("REVIEW_SECRET")
    assert (denied.allowed, denied.rule) == (False, "prompt_rules.confusable")
    assert denied.reason == "prompt 'REVIEW_SECRET' imitates 'review_secret' (blocked by prompt_rules)"
    assert prompts.decide("Summary").allowed


def test_resource_uris_are_matched_as_written() -> None:
    text = 'version: 1\nresource_rules:\n  - {uri_pattern: "demo://r/*", action: ALLOW}\n'
    resources = _policy(text).resource_rules
    assert resources is not None
    assert resources.decide("demo://r/a b/ç").allowed  # URIs are not tool names


# --- no false positives on real servers --------------------------------------------------------------------


def _benign_tool_names() -> set[str]:
    names: set[str] = set()
    for line in (BENIGN / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["request"]["method"] == "tools/list":
            names.update(tool["name"] for tool in record["response"]["result"]["tools"])
    return names


def test_real_server_tool_names_are_not_look_alikes_of_each_other() -> None:
    names = _benign_tool_names()
    assert len(names) > 30
    assert all(is_spec_tool_name(name) for name in names)
    # The benign policy's restrictions under a deny-list: every tool it does not deny stays allowed.
    text = (
        (BENIGN / "policy.yaml")
        .read_text(encoding="utf-8")
        .replace("static_rules:\n", 'static_rules:\n  "*": ALLOW\n', 1)
    )
    policy = _policy(text)
    denied = {name for name in names if not policy.static_rules.decide(name).allowed}
    assert denied == {"get-env", "gzip-file-as-resource"}
