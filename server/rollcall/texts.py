"""What a roll call texts, says and answers, in Chinese and English: the wording catalogue's
`rollcall.*` (server/words/rollcall.json)."""

from server import words
from server.words import Language, language_of

__all__ = ["Language", "language_of", "note_or_default"]


def note_or_default(note: str, language: str) -> str:
    """The staff's note, or a plain request to report in when there is none."""
    return note.strip() or words.say("rollcall.default_note", language=language)
