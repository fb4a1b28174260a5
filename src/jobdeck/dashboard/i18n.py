"""The dashboard's words in English and 简体中文, and the choice of language for a request.

Every key exists in both languages (a unit test checks it, and that every key the templates use is here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobdeck.dashboard.i18n_en import EN
from jobdeck.dashboard.i18n_zh import ZH

__all__ = ["LANGUAGES", "LANG_COOKIE", "MESSAGES", "SCRIPT_KEYS", "Translator", "pick_language"]

LANG_COOKIE = "jobdeck_lang"
LANGUAGES = ("en", "zh")
MESSAGES: Mapping[str, Mapping[str, str]] = {"en": EN, "zh": ZH}

SCRIPT_KEYS = (
    "rel_now", "rel_future", "rel_past", "unit_s", "unit_min", "unit_h", "unit_d",
    "live_on", "live_connecting", "live_polling", "live_on_hint", "live_polling_hint",
    "js_network_error", "js_session_expired", "js_working", "js_schedule_checking", "js_schedule_valid",
    "js_schedule_unchanged", "js_next_fire_times", "js_no_fire_times", "confirm_button", "js_open_run",
)  # fmt: skip
"""The words the page script needs (relative times, the live indicator, messages)."""


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The chosen language (cookie), else the browser's first supported preference, else English.

    ``Accept-Language: zh-CN,zh;q=0.9,en;q=0.8`` → ``zh``; ``fr, en;q=0.5`` → ``en``; any ``zh-*`` → ``zh``.
    """
    if cookie in LANGUAGES:
        return str(cookie)
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        base = tag.strip().lower().split("-")[0]
        if base in LANGUAGES and quality > 0:
            ranked.append((-quality, index, base))
    return sorted(ranked)[0][2] if ranked else "en"


class Translator:
    """``t("key", name=value)`` → the message in this language, formatted; the English one if a key is missing."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else "en"
        self._messages = MESSAGES[self.language]

    def __call__(self, key: str, **values: Any) -> str:
        text = self._messages.get(key) or EN.get(key) or key
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self._messages

    def for_script(self) -> dict[str, str]:
        return {key: self(key) for key in SCRIPT_KEYS}
