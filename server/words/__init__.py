"""One catalogue of wording, in Chinese and English, for everything a person reads or hears:
the pages' labels, the texts, the calls and the API's refusals.

Each `*.json` file beside this module holds one area's entries, `{"key": {"zh": "…", "en":
"…"}}`; `errors.json` is keyed by the English sentence a refusal is raised with (the English
is the key itself), so the code reads as it did and the sentence reaches a person in their
language. Placeholders are `{name}`, filled from keyword values. The pages get the whole
catalogue as one ES module (`/static/js/catalogue.js`, see `script`), so the screen and the
text say the same thing. Nothing here knows HTTP.
"""

import functools
import json
import string
from pathlib import Path
from typing import Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
_HERE = Path(__file__).parent
_ERRORS = "errors"


def language_of(value: str | None) -> Language:
    """The catalogue's language for a person's or a header's setting: English if it says so,
    Chinese otherwise (the community's language)."""
    return "en" if value is not None and value.lower().startswith("en") else "zh"


@functools.cache
def catalogue() -> dict[Language, dict[str, str]]:
    """Every entry by language: `{"zh": {key: text}, "en": {key: text}}` (refusals under their
    English sentence)."""
    merged: dict[Language, dict[str, str]] = {"zh": {}, "en": {}}
    for path in sorted(_HERE.glob("*.json")):
        entries: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
        for key, texts in entries.items():
            for language in LANGUAGES:
                if key in merged[language]:
                    raise ValueError(f"{key!r} is in two files of the catalogue ({path.name})")
                text = key if path.stem == _ERRORS and language == "en" else texts[language]
                merged[language][key] = text
    return merged


def say(key: str, *, language: str, **values: object) -> str:
    """The entry for `key` in `language` (Chinese unless English), `{name}`s filled from
    values. A key the catalogue lacks is a programming error (tests hold every key used)."""
    text = catalogue()[language_of(language)][key]
    return text.format(**values) if values else text


def refusal(sentence: str, *, language: str, **values: object) -> str:
    """A refusal's sentence in the person's language: the English template translated when the
    catalogue has it (else kept), then filled."""
    template = catalogue()[language_of(language)].get(sentence, sentence)
    return template.format(**values) if values else template


def placeholders(text: str) -> set[str]:
    """The `{name}`s a text asks for (tests hold the two languages to the same set)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@functools.cache
def script() -> bytes:
    """The catalogue as an ES module the pages import (`export default {zh: …, en: …}`)."""
    body = json.dumps(catalogue(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return (
        "// The wording catalogue (server/words/*.json), made by the service.\n"
        f"export default {body};\n"
    ).encode()
