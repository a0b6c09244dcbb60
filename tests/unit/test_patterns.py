from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lilith.policy.patterns import compile_glob, compile_regex, is_glob, is_scalar_text

# --- regex -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "full", "found"),
    [
        ("(a+)+$", False, False),
        ("(a|a)*$", False, True),
        ("(a*)*b", True, True),
        ("(.*a){20}", False, True),
        ("(x+x+)+y", False, False),
        ("^(a|aa)+$", False, False),
    ],
)
def test_catastrophic_patterns_finish(pattern: str, full: bool, found: bool) -> None:
    # Exponential for a backtracking engine; RE2 is linear, so this just runs.
    regex = compile_regex(pattern)
    text = "a" * 50_000 + "b"
    assert regex.fullmatch(text) is full
    assert regex.search(text) is found


def test_regex_is_full_match_by_default() -> None:
    regex = compile_regex("[a-z]+")
    assert regex.fullmatch("hello")
    assert not regex.fullmatch("hello; rm -rf /")
    assert regex.search("hello; rm -rf /")
    assert not regex.fullmatch("")


def test_dot_matches_newline_so_deny_patterns_cannot_be_dodged() -> None:
    assert compile_regex(".*rm -rf.*").fullmatch("harmless\nrm -rf /")
    assert not compile_regex("(?-s).*rm -rf.*").fullmatch("harmless\nrm -rf /")


def test_dollar_does_not_match_before_a_trailing_newline() -> None:
    assert not compile_regex("abc$").fullmatch("abc\n")
    assert not compile_regex("abc$").search("abc\n")


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"(a)\1", "escape"),
        ("(?=a)a", "perl operator"),
        ("(?!a)b", "perl operator"),
        ("(?<=a)b", "perl operator"),
        ("(?<!a)b", "perl operator"),
        ("[a", "missing ]"),
        ("a{2000}", "repetition"),
        ("(", "missing )"),
    ],
)
def test_patterns_re2_rejects_raise_value_error_naming_the_problem(pattern: str, problem: str) -> None:
    with pytest.raises(ValueError, match="not a valid RE2 pattern") as info:
        compile_regex(pattern)
    assert problem in str(info.value)


def test_regex_is_case_sensitive_and_exact() -> None:
    regex = compile_regex("secret")
    assert not regex.fullmatch("SECRET")
    assert not regex.fullmatch("s\u0435cret")  # Cyrillic е
    assert not regex.fullmatch("secret\x00")
    assert not regex.fullmatch("secret\u200b")  # zero-width space
    assert compile_regex("(?i)secret").fullmatch("SECRET")


def test_nul_and_any_unicode_are_plain_characters() -> None:
    assert compile_regex("a\\x00b").fullmatch("a\x00b")
    assert compile_regex("a.b").fullmatch("a\x00b")
    assert compile_regex("a.b").fullmatch("a\U0001f600b")
    assert compile_regex("\\p{Greek}+").fullmatch("αβγ")
    assert compile_regex("é").fullmatch("é")
    assert not compile_regex("é").fullmatch("e\u0301")  # no normalisation: NFD spelling differs


def test_lone_surrogates_never_match_and_never_crash() -> None:
    text = "abc\ud800"
    assert not is_scalar_text(text)
    assert is_scalar_text("abc\U0001f600")
    assert not compile_regex(".*").fullmatch(text)
    assert not compile_regex(".*").search(text)
    assert not compile_glob("*").match(text)
    with pytest.raises(ValueError, match="lone surrogate"):
        compile_regex("\udc80")
    with pytest.raises(ValueError, match="lone surrogate"):
        compile_glob("*\udc80")


# --- glob --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("*", "", True),
        ("*", "a/b/c", True),
        ("/tmp/*", "/tmp/a/b", True),
        ("/tmp/*", "/tmp", False),
        ("*.txt", "notes.txt", True),
        ("*.txt", "notes.txt.exe", False),
        ("*.txt", "notes.TXT", False),
        ("?", "é", True),
        ("?", "\U0001f600", True),
        ("?", "", False),
        ("?", "ab", False),
        ("a?c", "a/c", True),
        ("a?c", "a\nc", True),
        ("*", "line1\nline2", True),
        ("[abc]", "b", True),
        ("[abc]", "d", False),
        ("[a-c]x", "bx", True),
        ("[a-c]x", "Bx", False),
        ("[!x]", "y", True),
        ("[!x]", "x", False),
        ("[!x]", "/", True),
        ("[]]", "]", True),
        ("[!]]", "]", False),
        ("[!]]", "a", True),
        ("[a-]", "-", True),
        ("[-a]", "-", True),
        ("[\\]]", "]", True),
        ("[\\!]", "!", True),
        ("[\\!]", "a", False),
        ("[.^$]", "^", True),
        ("[\\-x]", "-", True),
        ("\\*", "*", True),
        ("\\*", "a", False),
        ("\\?", "?", True),
        ("\\[a]", "[a]", True),
        ("\\\\", "\\", True),
        ("a.b", "a.b", True),
        ("a.b", "axb", False),
        ("(a|b)+", "(a|b)+", True),
        ("(a|b)+", "a", False),
        ("$HOME", "$HOME", True),
        ("**", "x/y", True),
        ("a**b", "ab", True),
        ("\x00", "\x00", True),
        ("secret", "secret\x00", False),
        ("secret*", "secret\x00.txt", True),
        ("report.pdf", "rep\u043ert.pdf", False),  # Cyrillic о homoglyph
        ("admin", "ADMIN", False),
        ("[é-ë]", "ê", True),
        ("[é-ë]", "e", False),
    ],
)
def test_glob_cases(pattern: str, text: str, expected: bool) -> None:
    assert compile_glob(pattern).match(text) is expected


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("[abc", "unclosed"),
        ("[", "unclosed"),
        ("[!", "unclosed"),
        ("[]", "unclosed"),
        ("a[b-", "unclosed"),
        ("abc\\", "dangling"),
        ("[a\\", "dangling"),
        ("[z-a]", "empty character range"),
    ],
)
def test_bad_globs_raise_value_error(pattern: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        compile_glob(pattern)


def test_nul_suffixed_and_homoglyph_names_do_not_match_globs() -> None:
    glob = compile_glob("/srv/data/*.csv")
    assert glob.match("/srv/data/q1.csv")
    assert not glob.match("/srv/data/q1.csv\x00")
    assert not glob.match("/srv/data/q1.c\u0455v")  # Cyrillic ѕ
    assert not glob.match("/srv/dat\u0430/q1.csv")  # Cyrillic а
    assert not glob.match("/SRV/data/q1.csv")
    assert not glob.match("/srv/data/q1.csv\n")


def test_glob_keeps_source_and_translation() -> None:
    glob = compile_glob("a*[!x]")
    assert glob.pattern == "a*[!x]"
    assert glob.regex == "a.*[^x]"
    assert repr(glob) == "Glob('a*[!x]')"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("plain", False), ("", False), ("/tmp/x.txt", False), ("*", True), ("a?", True), ("[ab]", True), ("a\\b", True)],
)
def test_is_glob(text: str, expected: bool) -> None:
    assert is_glob(text) is expected


_GLOB_PATTERNS = st.text(alphabet="ab*?", max_size=12)
_TEXTS = st.text(alphabet=st.sampled_from("ab/\n.*?é"), max_size=16)


@given(pattern=_GLOB_PATTERNS, text=_TEXTS)
def test_glob_agrees_with_fnmatchcase(pattern: str, text: str) -> None:
    assert compile_glob(pattern).match(text) is fnmatch.fnmatchcase(text, pattern)


@given(pattern=st.text(alphabet=st.characters(codec="utf-8", exclude_characters="*?[\\"), max_size=20))
def test_globs_without_metacharacters_are_string_equality(pattern: str) -> None:
    glob = compile_glob(pattern)
    assert not is_glob(pattern)
    assert glob.match(pattern)
    assert not glob.match(pattern + "x")
