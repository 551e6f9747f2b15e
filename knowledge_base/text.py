"""Text normalisation shared by the keyword leg, the query checks and the unanswered log."""

from __future__ import annotations

import unicodedata

from speech.sounds import syllables  # noqa: F401  (moved: the campaign dialogue matches answers by sound too)


def normalize(text: str) -> str:
    """Full-width to half-width, lower case, only letters and digits kept: what a question *says*.

    Punctuation, spaces and emoji carry no meaning for matching and would only add noise n-grams.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def has_words(text: str) -> bool:
    """False for input made only of emoji, punctuation or spaces (nothing to search for)."""
    return bool(normalize(text))
