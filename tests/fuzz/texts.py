"""Text strategies that reach past a parser's first check: pieces of real answers glued to
unicode a keyboard, a paste or an attacker can produce."""

from __future__ import annotations

from hypothesis import strategies as st

# Digits that are not ASCII (Arabic-Indic, Devanagari, fullwidth, superscript, circled,
# Ethiopic: `isdigit()` but not all `int()`-able), spaces Python splits on, controls, bidi
# overrides, combining marks, a surrogate-free astral character.
ODD_CHARACTERS = "٣४３²①፩\u00a0\u202f\u2028\x85\u3000\t\r\n\x00\x1b\u202e\u2066\u0301\u200b\ufeff😀ß"

PIECES = (
    # dates, times and durations, English and French
    "next", "Thursday", "jeudi", "prochain", "tomorrow", "demain", "at", "à", "le", "on", "noon",
    "midi", "midday", "am", "pm", "a.m.", "h", "heures", "min", "minutes", "hours", "and", "et",
    "half", "demie", "1", "9", "12", "13", "24", "25", "30", "59", "60", "00", "2026", "9999",
    "0001", ":", ".", "/", "-", ",", "March", "mars", "février", "December", "31", "29",
    # zones
    "GMT", "UTC+1", "EST", "ET", "Europe/", "London", "Londres", "Montréal", "Toronto", "Paris",
    "Etc/GMT+5", "America/St_Johns", "time zone", "heure normale",
    # postcodes, countries, e-mails, links
    "EH6", "8QX", "K1A", "0B1", "GIR", "0AA", "SW1A", "UK", "Royaume-Uni", "the", "Canada",
    "@", "nhs.net", "mailto:", "https://", "http://", "zoom.us", "[::1", "%00", "..",
    # runtime words
    "yes", "oui", "no", "non", "back", "retour", "cancel", "help", "aide", "skip", "review",
    "change ", "modifier ", "1, 2", "et 3", "&", ";", "payload", "<@U0AMA>", "<!channel>", "&lt;",
)

piece = st.sampled_from(PIECES) | st.sampled_from(ODD_CHARACTERS) | st.text(max_size=4)
# Pieces joined by nothing or a space: "next Thursday at 25:00", "EH6 8QX٣", "13 h 5 2026".
answer_like = st.lists(piece, max_size=10).flatmap(
    lambda parts: st.sampled_from(["", " "]).map(lambda glue: glue.join(parts)))
any_answer = st.text(max_size=200) | answer_like | st.text(alphabet=ODD_CHARACTERS, max_size=20)
