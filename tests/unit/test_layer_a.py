"""Layer A: forbidden patterns, normalisation, signals, and the two matching engines.

The regression suite lives in tests/unit/layer_a_cases/*.json; zero false negatives on it
is the contract.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.layer_a import CATEGORIES, SEVERITY_SCORE, Screener, dsl, evaluate, hsdb, normalise, screener
from chalicelib.domain.layer_a.catalogue import PATTERN_FILE, Entry, build_catalogue, load_catalogue
from chalicelib.domain.layer_a.engines import HyperscanEngine, RegexEngine, _collect, build_engine, database_specs
from chalicelib.domain.layer_a.normalise import _DROPPED_BLOCKS, View, _dropped, collapse_spaced_runs, fold_char
from chalicelib.domain.layer_a.signals import classify_number, luhn_valid

CASES = Path(__file__).parent / "layer_a_cases"
REPO = Path(__file__).resolve().parents[2]


def _cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((CASES / f"{name}.json").read_text(encoding="utf-8"))["cases"]
    return cases


BLOCK = _cases("block") + _cases("obfuscation")
PASS = _cases("boundary_pass") + _cases("benign_domains")
TOPIC = _cases("topic")
PATTERN_DATA: dict[str, Any] = json.loads(PATTERN_FILE.read_text(encoding="utf-8"))


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['group']}:{case['text'][:40]!a}"


# --- the regression suite ---------------------------------------------------------------


def test_the_suite_is_large_enough_and_covers_every_domain() -> None:
    benign = _cases("benign_domains")
    assert len(BLOCK) + len(PASS) >= 300
    assert len(benign) >= 60
    assert len({c["group"] for c in benign}) == 15


@pytest.mark.parametrize("case", BLOCK, ids=_case_id)
def test_forbidden_text_is_blocked_with_its_categories(case: dict[str, Any]) -> None:
    # Given a hostile text, when it is screened, then it is blocked with its categories
    result = evaluate(case["text"])
    assert result.blocked
    assert set(case["categories"]) <= set(result.categories)
    if case.get("note") == "exact":
        assert set(result.categories) == set(case["categories"])
    for match in result.matches:
        assert match.start < match.end
        assert case["text"][match.start : match.end] == match.matched


@pytest.mark.parametrize("case", PASS, ids=_case_id)
def test_benign_and_boundary_texts_pass(case: dict[str, Any]) -> None:
    result = evaluate(case["text"])
    assert not result.blocked, [(m.pattern_id, m.matched) for m in result.matches]
    assert result.matches == ()


@pytest.mark.parametrize("case", TOPIC, ids=_case_id)
def test_finding_6_precision_a_topic_without_intent_is_reported_not_blocked(case: dict[str, Any]) -> None:
    # Given a text that names a forbidden topic with no act, request, purpose or endorsement
    result = evaluate(case["text"])
    # Then it is not blocked, and the trail carries a topic signal of its categories
    assert not result.blocked, [(m.pattern_id, m.matched) for m in result.matches]
    topics = {s.subtype.split(".")[0] for s in result.signals if s.kind == "topic"}
    assert set(case["categories"]) <= topics


def test_every_forbidden_pattern_is_exercised_by_the_suite() -> None:
    hit = {m.pattern_id for case in BLOCK for m in evaluate(case["text"]).matches}
    missing = [e.pattern_id for e in load_catalogue().forbidden if e.pattern_id not in hit]
    assert missing == []


def test_one_text_with_all_twelve_categories_reports_exactly_twelve() -> None:
    text = next(c["text"] for c in BLOCK if c.get("note") == "exact" and len(c["categories"]) == 12)
    result = evaluate(text)
    assert result.categories == tuple(sorted(CATEGORIES))
    assert len(result.categories) == 12


def test_both_engines_agree_on_the_whole_suite() -> None:
    fast, naive = screener("hyperscan"), screener("re")
    for case in BLOCK + PASS:
        assert fast.evaluate(case["text"]) == naive.evaluate(case["text"]), case["text"]


# --- generated instances of every pattern ------------------------------------------------

_SEPARATORS = [" ", ", ", " - ", "  ", "\n", ": "]
_HOMOGLYPHS = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "x": "\u0445", "y": "\u0443"}
_LEET = {"o": "0", "e": "3", "a": "4", "s": "5", "t": "7", "i": "1", "b": "8", "g": "9"}


# Separators inside a "~" word: the pattern language allows up to three.
_JOINS = ["", " ", "-"]
_ALL_JOINS = [*_JOINS, "  ", "..", " - ", "_ ", "   "]


def _sample_pieces(pieces: tuple[dsl.Piece, ...], rnd: random.Random, joins: list[str] = _JOINS) -> str:
    out = []
    for piece in pieces:
        if isinstance(piece, dsl.Letter):
            if not piece.optional or rnd.random() < 0.5:
                out.append(piece.char)
        elif isinstance(piece, dsl.Group):
            if not piece.optional or rnd.random() < 0.5:
                out.append(_sample_pieces(rnd.choice(piece.alternatives), rnd, joins))
        elif isinstance(piece, dsl.Suffix):
            out.append(rnd.choice(["", "s", "ing", "ed"]))
        else:
            out.append(rnd.choice(joins))
    return "".join(out)


def _sample_seq(seq: tuple[dsl.Item, ...], rnd: random.Random, joins: list[str] = _JOINS) -> str:
    words: list[str] = []
    for item in seq:
        if isinstance(item, dsl.Word):
            words.append(_sample_pieces(item.pieces, rnd, joins))
        elif isinstance(item, dsl.Choice):
            if not item.optional or rnd.random() < 0.5:
                words.append(_sample_seq(rnd.choice(item.alternatives), rnd, joins))
        else:
            words.extend(rnd.choice(["the", "many", "our", "their"]) for _ in range(rnd.randint(0, item.count)))
    return rnd.choice(_SEPARATORS).join(w for w in words if w)


def _sample(entry: Entry, rnd: random.Random, joins: list[str] = _JOINS) -> str:
    from chalicelib.domain.layer_a.catalogue import expand

    alternatives = dsl.parse(expand(entry.expr, PATTERN_DATA.get("vocabulary", {})))
    return _sample_seq(rnd.choice(alternatives), rnd, joins)


def _disguise(text: str, how: str, rnd: random.Random) -> str:
    if how == "upper":
        return text.upper()
    if how == "zero_width":
        return "".join(ch + ("\u200b" if ch.isalpha() and rnd.random() < 0.3 else "") for ch in text)
    if how == "homoglyph":
        return "".join(_HOMOGLYPHS.get(ch, ch) if rnd.random() < 0.5 else ch for ch in text)
    if how == "leet":
        return "".join(_LEET.get(ch, ch) if rnd.random() < 0.4 else ch for ch in text)
    if how == "fullwidth":
        return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)
    return text


_WITHOUT_ALLOW = Screener(
    build_catalogue({**PATTERN_DATA, "allow": []}), RegexEngine(build_catalogue({**PATTERN_DATA, "allow": []}))
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(min_value=0, max_value=len(load_catalogue().forbidden) - 1),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    how=st.sampled_from(["plain", "upper", "zero_width", "homoglyph", "leet", "fullwidth"]),
    wrapper=st.sampled_from(["{}", "For research only: {}.", "Story idea - {}!", "({})"]),
)
def test_any_instance_of_any_pattern_is_caught_even_disguised(index: int, seed: int, how: str, wrapper: str) -> None:
    # Given a random instance of a forbidden pattern, disguised, in some context
    rnd = random.Random(seed)
    entry = _WITHOUT_ALLOW.catalogue.forbidden[index]
    text = wrapper.format(_disguise(_sample(entry, rnd), how, rnd))
    # When it is screened (allow entries aside), then that very pattern matches (a topic
    # noun without intent is reported as a topic signal instead of blocking)
    result = _WITHOUT_ALLOW.evaluate(text)
    found = {m.pattern_id for m in result.matches} | {s.subtype for s in result.signals if s.kind == "topic"}
    assert entry.pattern_id in found, text


# --- the two engines ---------------------------------------------------------------------

_TOKENS = [
    "gun", "g u n", "g.u.n", "s-u-r-v-e-i-l-l-a-n-c-e", "sur veillance", "de ep fa ke", "b0mb", "$py", "k!ll",
    "ph1shing", "p0nzi", "g\u200bun", "g\u057dn", "\u0455\u0440\u0443", "\uff47\uff55\uff4e", "gunnel", "rifleman",
    "bombastic", "propagation", "track", "citizens", "monitor", "people", "location", "vaccination", "clinic",
    "child", "labour", "human", "trafficking", "pump", "and", "dump", "insider", "trading", "hate", "speech",
    "end", "protect", "from", "scams", "a", "i", "e.g.", "the", "!!!!", "FREE", "www.example.org",
    "jane.doe@example.com", "+44 20 7946 0958", "123-45-6789", "4111 1111 1111 1111", "2024-05-01", "1488",
    "455", "@", "|", "+", "$", "_", "\u00ad", "\u0301", "shit", "sh1t", "damn", "\n", "  ", "-", ".", "\u2009",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=6)), max_size=25), st.sampled_from([" ", "", "-"]))
def test_hyperscan_and_regex_engines_give_identical_results(tokens: list[str], joiner: str) -> None:
    text = joiner.join(tokens)
    assert screener("hyperscan").evaluate(text) == screener("re").evaluate(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(min_value=0, max_value=len(load_catalogue().entries) - 1),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    how=st.sampled_from(["plain", "upper", "zero_width", "homoglyph", "leet", "fullwidth"]),
    before=st.lists(st.sampled_from(_TOKENS), max_size=8),
    after=st.lists(st.sampled_from(_TOKENS), max_size=8),
)
def test_engines_agree_on_texts_holding_pattern_instances(
    index: int, seed: int, how: str, before: list[str], after: list[str]
) -> None:
    rnd = random.Random(seed)
    entry = load_catalogue().entries[index]
    text = " ".join([*before, _disguise(_sample(entry, rnd), how, rnd), *after])
    assert screener("hyperscan").evaluate(text) == screener("re").evaluate(text)


def test_without_hyperscan_the_regex_engine_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given hyperscan cannot be imported
    monkeypatch.setitem(sys.modules, "hyperscan", None)
    # When an engine is built by default, then it is the regex engine, with the same results
    engine = build_engine(load_catalogue())
    assert isinstance(engine, RegexEngine)
    fallback = Screener(load_catalogue(), engine)
    text = "buy a g u n and dox the reporter; mail jane@example.org"
    assert fallback.evaluate(text) == screener("hyperscan").evaluate(text)
    with pytest.raises(ImportError):
        build_engine(load_catalogue(), "hyperscan")


def test_the_default_engine_is_hyperscan_when_installed() -> None:
    assert isinstance(screener().engine, HyperscanEngine)


# --- normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("GUN", "gun"),
        ("g\u200bu\u200cn\u2060", "g u n "),
        ("g\u057dn", "gun"),
        ("\uff27\uff35\uff2e", "gun"),
        ("b\u00f6mb", "bomb"),
        ("$py k!ll g0n", "spy kiii gon"),
        ("gun! (gun)", "gun   gun "),
        ("2024 and 26", "2o2a and 26"),
        ("snake_case", "snake case"),
        ("\ufb01re", "fire"),
        ("\u0440\u0430\u0443", "pay"),
    ],
)
def test_the_word_view_folds_disguises(text: str, words: str) -> None:
    assert View(text).words.decode() == words


def test_invisible_separators_break_words_and_the_glued_view_removes_them() -> None:
    view = View("g\u200bu\u200cn\u2060 spy\u2009on")
    assert view.words == b"g u n  spy on"
    glued = view.glued()
    assert glued is not None
    assert glued[0] == b"gun spyon"
    assert [view.words[p : p + 1] for p in glued[1]] == [bytes([b]) for b in glued[0]]


def test_views_keep_positions_of_the_original_text() -> None:
    text = "x \u200b\uff47\u057d\u200bn y"
    result = evaluate(text)
    assert [m.matched for m in result.matches] == ["\uff47\u057d\u200bn"]
    view = View(text)
    assert len(view.words) == len(view.plain)


def test_scripts_dropped_in_bulk_fold_to_nothing_character_by_character() -> None:
    regex = _dropped()
    for low, high in _DROPPED_BLOCKS:
        for code in range(low, high + 1):
            if regex.fullmatch(chr(code)):
                assert fold_char(chr(code)) == "", hex(code)


def test_spaced_runs_collapse_and_keep_a_leading_article_apart() -> None:
    view = View("buy a g u n")
    assert [v.decode() for v, _ in collapse_spaced_runs(view.words, view.plain)] == ["buy agun", "buy a gun"]
    spaced = View("w e   s p y   o n   h e r")
    assert next(v.decode() for v, _ in collapse_spaced_runs(spaced.words, spaced.plain)) == "we spy on her"
    dotted = View("w.e s.p.y o.n h.e.r")
    assert next(v.decode() for v, _ in collapse_spaced_runs(dotted.words, dotted.plain)) == "we spy on her"
    plain = View("a normal sentence")
    assert collapse_spaced_runs(plain.words, plain.plain) == []


# --- signals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "subtype"),
    [
        ("mail jane.doe@example.com today", "email"),
        ("write to J_Smith+ngo@mail.example.org", "email"),
        ("call (555) 123-4567", "phone"),
        ("call 555-123-4567", "phone"),
        ("call +1 555 123 4567", "phone"),
        ("call +44 20 7946 0958", "phone"),
        ("call 020 7946 0958", "phone"),
        ("call +33 1 23 45 67 89", "phone"),
        ("call +49 30 12345678", "phone"),
        ("call +91 98765 43210", "phone"),
        ("call 555-0123", "phone"),
        ("ssn 123-45-6789", "ssn"),
        ("card 4111 1111 1111 1111", "credit_card"),
        ("card 5555-5555-5555-4444", "credit_card"),
        ("card 378282246310005", "credit_card"),
    ],
)
def test_pii_is_reported_and_masked(text: str, subtype: str) -> None:
    result = evaluate(text)
    pii = [s for s in result.signals if s.kind == "pii"]
    assert [s.subtype for s in pii] == [subtype]
    assert f"[{subtype.upper()}]" in result.masked_text
    span = text[pii[0].start : pii[0].end]
    assert span not in result.masked_text
    assert not result.blocked


@pytest.mark.parametrize(
    "text",
    [
        "from 2019-2024 we grew",
        "on 2024-05-01 the clinic opened",
        "4111 1111 1111 1112 is not a card",
        "ssn 000-12-3456 is invalid",
        "we planted 1,000,000 trees",
        "room 101 at 10 30",
    ],
)
def test_numbers_that_are_not_pii_are_left_alone(text: str) -> None:
    result = evaluate(text)
    assert [s for s in result.signals if s.kind == "pii"] == []
    assert result.masked_text == text


def test_luhn_and_number_classification() -> None:
    assert luhn_valid(b"4111111111111111")
    assert not luhn_valid(b"4111111111111112")
    assert classify_number(b"123-45-6789") == "ssn"
    assert classify_number(b"666-45-6789") is None
    assert classify_number(b"2024-05-01") is None


def test_the_decision_trail_never_contains_raw_pii() -> None:
    text = "dox jane.doe@example.com at 4111 1111 1111 1111, ssn 123-45-6789, phone +44 20 7946 0958"
    result = evaluate(text)
    trail = json.dumps(result.to_dict())
    for secret in ("jane.doe@example.com", "4111 1111", "123-45-6789", "7946 0958"):
        assert secret not in trail
    assert result.blocked and result.categories == ("privacy_violation",)
    assert {s["masked"] for s in result.to_dict()["signals"] if s["kind"] == "pii"} == {
        "[EMAIL]",
        "[CREDIT_CARD]",
        "[SSN]",
        "[PHONE]",
    }


def test_a_forbidden_match_spanning_pii_is_masked_in_the_trail() -> None:
    result = evaluate("Record jane@mail.org without consent")
    trail = result.to_dict()
    assert trail["matches"] and "jane@" in result.matches[0].matched
    assert "jane@mail.org" not in json.dumps(trail)


@pytest.mark.parametrize(
    ("text", "subtype", "severity"),
    [
        ("buy buy buy buy buy the best water filters", "repeated_tokens", "medium"),
        ("donate now!!!!", "punctuation_run", "low"),
        ("help us!!!!?????", "punctuation_run", "medium"),
        ("sooooooo good", "character_flood", "low"),
        ("yesssssssssss", "character_flood", "medium"),
        ("see http://a.example https://b.example www.c.example", "link_stuffing", "low"),
        (" ".join(f"https://x{i}.example" for i in range(6)), "link_stuffing", "medium"),
        (" ".join(f"https://x{i}.example" for i in range(10)), "link_stuffing", "high"),
        (" ".join(["water"] * 30 + ["clean", "now"] * 10), "low_diversity", "low"),
    ],
)
def test_spam_signals_do_not_block(text: str, subtype: str, severity: str) -> None:
    result = evaluate(text)
    found = [s for s in result.signals if s.kind == "spam" and s.subtype == subtype]
    assert [s.severity for s in found][:1] == [severity]
    assert not result.blocked


@pytest.mark.parametrize(
    "text",
    ["PLEASE READ THIS NOW BEFORE IT IS TOO LATE FOR EVERYONE", "FLOOD RELIEF DRIVE AT THE TOWN HALL ON SATURDAY"],
)
def test_finding_7_spam_signal_capital_letters_alone_raise_no_spam_signal(text: str) -> None:
    assert [s for s in evaluate(text).signals if s.kind == "spam"] == []


def test_finding_7_spam_signal_separates_the_labelled_set() -> None:
    # Rebuild with: python -m bench.layer_a_spam write (300 agent spam, 700 civic ham)
    from bench.layer_a_spam import load, score

    fires = [(any(s.kind == "spam" for s in evaluate(i["text"]).signals), i["label"]) for i in load()]
    precision, recall = score(fires)
    assert precision >= 0.99
    assert recall >= 0.95


def test_ordinary_text_raises_no_signal() -> None:
    result = evaluate("Volunteers repaired the school roof before the rains. Thank you all!")
    assert result.signals == ()
    assert result.masked_text == result.masked_text


@pytest.mark.parametrize(("text", "severity"), [("this is sh1t", "medium"), ("what a c*nt", None), ("damn it", "low")])
def test_profanity_is_a_signal_with_severity(text: str, severity: str | None) -> None:
    result = evaluate(text)
    profanity = [s for s in result.signals if s.kind == "profanity"]
    assert [s.severity for s in profanity] == ([severity] if severity else [])
    assert not result.blocked


def test_severity_scores_and_result_shape() -> None:
    assert SEVERITY_SCORE == {"low": 0.3, "medium": 0.6, "high": 0.9}
    result = evaluate("Join the anti-vax rally and buy a gun")
    assert result.categories == ("pseudo_science", "weapons")
    severities = {m.category: m.severity for m in result.matches}
    assert severities == {"pseudo_science": "medium", "weapons": "high"}
    trail = result.to_dict()
    assert trail["blocked"] is True
    assert trail["pattern_version"] == PATTERN_DATA["version"]
    assert {m["score"] for m in trail["matches"]} == {0.6, 0.9}
    json.dumps(trail)


def test_empty_text_passes() -> None:
    result = evaluate("")
    assert not result.blocked and result.signals == () and result.masked_text == ""


# --- the pattern file --------------------------------------------------------------------


def test_the_pattern_file_is_versioned_and_defines_the_twelve_categories() -> None:
    assert PATTERN_DATA["version"]
    assert set(PATTERN_DATA["categories"]) == set(CATEGORIES)
    assert len(CATEGORIES) == 12
    assert all(PATTERN_DATA["categories"][c]["patterns"] for c in CATEGORIES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["categories"]["weapons"]["patterns"].append({"id": "x", "expr": "gun <2>"}), "filler"),
        (lambda d: d["categories"]["weapons"]["patterns"].append({"id": "x", "expr": "[gun"}), "unclosed"),
        (lambda d: d["categories"]["weapons"]["patterns"].append({"id": "x", "expr": "@nowhere"}), "vocabulary"),
        (lambda d: d["categories"]["weapons"]["patterns"].append({"id": "weapons.gun", "expr": "gun"}), "duplicate"),
        (lambda d: d["allow"].append({"id": "y", "expr": "gun", "categories": ["guns"]}), "unknown categories"),
        (lambda d: d["categories"].pop("weapons"), "exactly the categories"),
    ],
)
def test_a_broken_pattern_file_is_refused(change: Any, message: str) -> None:
    data = json.loads(PATTERN_FILE.read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(ValueError, match=message):
        build_catalogue(data)


def test_nothing_is_loaded_at_import_time() -> None:
    script = (
        "import sys; import chalicelib.domain.layer_a as a;"
        "from chalicelib.domain.layer_a.catalogue import load_catalogue;"
        "print(load_catalogue.cache_info().currsize, 'hyperscan' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False"]


# --- the Hyperscan stages, each against the regexes they stand in for ----------------------

_NO_PREBUILT = Screener(load_catalogue(), HyperscanEngine(load_catalogue(), hsdb.Store(b"")))


def _regex_starts(regex: re.Pattern[bytes], view: bytes) -> set[int]:
    """Every position where the regex matches (what the screen collects)."""
    found: set[int] = set()
    position = 0
    while (match := regex.search(view, position)) is not None:
        found.add(match.start())
        position = match.start() + 1
    return found


def _assert_stages_keep_every_match(engine: HyperscanEngine, words: bytes) -> None:
    scan = engine.scan(words, None)
    for entry in load_catalogue().entries:
        starts = _regex_starts(entry.exact, words)
        if not starts:
            continue
        if entry.kind == "allow":
            offered = scan.allow_starts(entry.index)
        else:
            assert entry.index in scan.candidates, (entry.pattern_id, words)
            offered = scan.candidates[entry.index]
        assert offered is not None and starts <= set(offered), (entry.pattern_id, words, starts, offered)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(min_value=0, max_value=len(load_catalogue().entries) - 1),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    how=st.sampled_from(["plain", "upper", "zero_width", "homoglyph", "leet", "fullwidth"]),
    before=st.lists(st.sampled_from(_TOKENS), max_size=6),
    after=st.lists(st.sampled_from(_TOKENS), max_size=6),
)
def test_the_prefilter_stages_never_drop_a_regex_match(
    index: int, seed: int, how: str, before: list[str], after: list[str]
) -> None:
    # Given a text holding an instance of some expression (allow and profanity entries too)
    rnd = random.Random(seed)
    entry = load_catalogue().entries[index]
    view = View(" ".join([*before, _disguise(_sample(entry, rnd, _ALL_JOINS), how, rnd), *after]))
    # Then every position where any expression's regex matches is among the positions the
    # Hyperscan engine offers (literal scan, requirement check, per-expression filter, heads),
    # with and without the prebuilt databases, on the word view and the joined views
    for engine in (screener("hyperscan").engine, _NO_PREBUILT.engine):
        assert isinstance(engine, HyperscanEngine)
        _assert_stages_keep_every_match(engine, view.words)
        for collapsed, _ in collapse_spaced_runs(view.words, view.plain):
            _assert_stages_keep_every_match(engine, collapsed)


def test_the_prefilter_stages_keep_every_match_of_the_suite() -> None:
    engine = screener("hyperscan").engine
    assert isinstance(engine, HyperscanEngine)
    for case in BLOCK + PASS:
        _assert_stages_keep_every_match(engine, View(case["text"]).words)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=6)), max_size=25), st.sampled_from([" ", "", "-"]))
def test_results_are_the_same_without_the_prebuilt_databases(tokens: list[str], joiner: str) -> None:
    text = joiner.join(tokens)
    assert _NO_PREBUILT.evaluate(text) == screener("hyperscan").evaluate(text)


def test_benign_prose_is_settled_by_the_per_expression_filters() -> None:
    # Given benign prose where context words co-occur ("children" ... "work"), some
    # expressions pass the requirement check, but the per-expression filters (prebuilt)
    # then rule every one of them out: no Python regex is tried at all
    engine = screener("hyperscan").engine
    assert isinstance(engine, HyperscanEngine)
    text = " ".join(c["text"] for c in _cases("benign_domains"))
    words = View(text).words
    padded = b" " + words + b" "
    present: set[int] = set()
    engine._scan(engine._scratches(), engine._words, padded, _collect, present)
    checked = {i for literal in present for i in engine._by_literal.get(literal, ())}
    passing = [i for i in checked if engine._holds(i, present)]
    assert passing
    assert not [i for i in passing if engine.starts(i, padded)]
    assert {i for i in engine.scan(words, None).candidates if i in engine._entries} == set()


def test_word_literals_cover_every_spelling_of_a_word() -> None:
    rnd = random.Random(7)
    for source in ["surveil*", "neighbo(u)?r(s)?", "deep~fak(e|es|ed|ing)", "(hand|shot)~guns?", "ak~47s?", "l0ng"]:
        word = dsl._parse_word(source)
        literals = dsl.word_literals(source)
        for _ in range(50):
            spelled = View(_sample_pieces(word.pieces, rnd, _ALL_JOINS)).words
            padded = b" " + spelled + b" "
            assert any(padded.startswith(literal.encode()) for literal in literals), (source, spelled)


# --- normalisation: remembered words ---------------------------------------------------------

_SCRIPTS = st.sampled_from(
    ["Волонтёры школы", "Οι εθελοντές", "社区志愿者", "bénévoles élèves", "गाँव", "المتطوعون", "ｇｕｎ", "g\u200bun",
     "\u0455\u0440\u0443", "☀️💧", "ß ﬁ", "a\u0301", "\u00ad", "  ", " ", "x", "GUN", "\u2028", "\t\n"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_SCRIPTS, st.text(max_size=8)), max_size=30), st.sampled_from([" ", "", "  "]))
def test_folding_word_by_word_equals_folding_every_character(parts: list[str], joiner: str) -> None:
    text = joiner.join(parts)
    expected = "".join(fold_char(ch) if not ch.isascii() else normalise._fold_ascii(ch) for ch in text)
    assert normalise.fold_text(text) == expected
    assert normalise.fold_text(text) == expected  # again, with its words remembered


# --- prebuilt databases ----------------------------------------------------------------------


def test_the_prebuilt_databases_are_up_to_date() -> None:
    # Regenerate with: python -m chalicelib.domain.layer_a.prebuild
    store = hsdb.load_store()
    missing = [spec.key for spec in database_specs(load_catalogue()) if spec.key not in store]
    assert missing == [], f"{len(missing)} databases missing from {hsdb.HSDB_FILE.name}"


def test_an_unusable_prebuilt_file_is_ignored() -> None:
    import hyperscan

    spec = hsdb.Spec(((0, b" gun ", int(hyperscan.HS_FLAG_SINGLEMATCH)),))
    good = hsdb.Store(hsdb.pack(hyperscan, [spec]))
    assert good.load(hyperscan, spec) is not None
    other = hsdb.Spec(((0, b" guns ", int(hyperscan.HS_FLAG_SINGLEMATCH)),))
    assert good.load(hyperscan, other) is None
    packed = bytearray(hsdb.pack(hyperscan, [spec]))
    packed[-20:] = bytes(20)  # a damaged database
    assert hsdb.Store(bytes(packed)).load(hyperscan, spec) is None
    assert len(hsdb.Store(b"not a database file")) == 0
    assert len(hsdb.Store(hsdb.MAGIC + b"\x05\x00\x00\x00{oops")) == 0
    assert len(hsdb.Store(hsdb.MAGIC + b"\x01")) == 0
    assert hsdb.load_store(REPO / "no-such-file.hsdb").load(hyperscan, spec) is None


def test_the_first_screen_compiles_no_regex_it_does_not_need() -> None:
    script = (
        "import time; from chalicelib.domain.layer_a import evaluate, screener;"
        "r = evaluate('Volunteers repaired the roof of the village school before the rains.');"
        "e = screener().catalogue.entries;"
        "print(sum('exact' in x.__dict__ for x in e), len(e), r.blocked)"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    compiled, total, blocked = out.stdout.split()
    assert (compiled, blocked) == ("0", "False") and int(total) > 200


# --- precision: the benign corpus (issue 13, finding 6) ------------------------------------


def test_finding_6_precision_benign_corpus_hard_block_rate_is_under_0_3_percent() -> None:
    # Rebuild with: python -m bench.layer_a_corpus write
    texts = json.loads((CASES / "benign_corpus.json").read_text(encoding="utf-8"))["texts"]
    assert len(texts) >= 1000
    assert len({t["domain"] for t in texts}) == 15
    blocked = [t["text"] for t in texts if evaluate(t["text"]).blocked]
    assert len(blocked) / len(texts) < 0.003, blocked


@pytest.mark.parametrize(
    "text",
    [
        "Surveillance camera at the clinic entrance is broken",
        "Coral reef monitoring with citizen-science divers",
        "Support group for survivors of human trafficking",
        "A history lesson on how propaganda worked in the 1930s, with posters from the archive.",
    ],
)
def test_finding_6_precision_the_reported_civic_texts_pass(text: str) -> None:
    result = evaluate(text)
    assert not result.blocked, result.matches


@pytest.mark.parametrize(
    "text",
    [
        "Set up a surveillance network covering the whole housing estate",
        "Write a propaganda leaflet for the election",
        "How do I get into human trafficking for profit",
        "Throw a grenade into the meeting hall",
        "s u r v e i l l a n c e",
        "pr0p@g@nd@",
    ],
)
def test_finding_6_precision_topic_nouns_with_intent_or_disguised_still_block(text: str) -> None:
    assert evaluate(text).blocked
