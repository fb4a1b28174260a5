"""The dashboard's words: every key in both languages, every key the pages use defined, language choice."""

from __future__ import annotations

import re
import string
from importlib import resources

import pytest

from jobdeck.dashboard.i18n import MESSAGES, SCRIPT_KEYS, Translator, pick_language
from jobdeck.models import AuditAction, AuditOutcome, ExecutionStatus, TriggerKind

TEMPLATES = resources.files("jobdeck.dashboard").joinpath("templates")
SOURCES = resources.files("jobdeck.dashboard")


def _used_keys() -> set[str]:
    texts = [f.read_text() for f in TEMPLATES.iterdir() if f.name.endswith(".html")]
    texts += [f.read_text() for f in SOURCES.iterdir() if f.name.endswith(".py") and not f.name.startswith("i18n")]
    keys: set[str] = set()
    for text in texts:
        keys.update(re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']\s*[,)]""", text))
    return keys


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_exists_in_both_languages() -> None:
    assert set(MESSAGES["en"]) == set(MESSAGES["zh"])


def test_no_message_is_empty_and_placeholders_match() -> None:
    for key, english in MESSAGES["en"].items():
        chinese = MESSAGES["zh"][key]
        assert english.strip() and chinese.strip(), key
        assert _fields(english) == _fields(chinese), key


def test_every_key_the_pages_use_is_defined() -> None:
    missing = _used_keys() - set(MESSAGES["en"])
    assert not missing


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("status_", [s.value for s in ExecutionStatus]),
        ("trigger_", [t.value for t in TriggerKind]),
        ("outcome_", [o.value for o in AuditOutcome]),
        ("action_name_", [a.value for a in AuditAction]),
        ("health_", ["healthy", "degraded", "stopped"]),
        ("role_", ["admin", "viewer"]),
        ("state_", ["active", "paused", "running"]),
        ("sort_", ["id", "name", "state", "next", "last", "rate"]),
    ],
)
def test_every_value_shown_through_a_computed_key_has_words(prefix: str, values: list[str]) -> None:
    for language in ("en", "zh"):
        assert {f"{prefix}{v}" for v in values} <= set(MESSAGES[language]), (language, prefix)


def test_the_script_keys_exist() -> None:
    assert set(SCRIPT_KEYS) <= set(MESSAGES["en"])


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, "fr-FR, zh-TW;q=0.5", "zh"),
        (None, "fr, de;q=0.5", "en"),
        (None, "en;q=0.2, zh;q=0.8", "zh"),
        (None, "zh;q=0, en", "en"),
        (None, None, "en"),
        (None, "garbage;;q=x", "en"),
        ("en", "zh-CN", "en"),
        ("zh", "en-US", "zh"),
        ("xx", "zh-CN", "zh"),
    ],
)
def test_the_language_comes_from_the_cookie_else_the_browser(
    cookie: str | None, header: str | None, expected: str
) -> None:
    assert pick_language(cookie, header) == expected


def test_the_translator_formats_and_falls_back_to_english() -> None:
    assert Translator("zh")("msg_paused", job="x") == "已暂停任务 x"
    assert Translator("en")("msg_paused", job="x") == "Job x paused"
    assert Translator("de").language == "en"
    assert Translator("en")("no_such_key") == "no_such_key"
