"""Builds phi_corpus.jsonl: synthetic case-presentation sentences, labelled.

    .venv/bin/python tests/data/make_phi_corpus.py     # rewrites tests/data/phi_corpus.jsonl

Every sentence is made up. Health numbers are built here by their own check-digit rules (this
file does not use assistant.identifiers, so a bug there cannot hide here), from a seeded
random source: NHS numbers in the 999 range kept for fixtures; phones from the ranges set
aside for drama and examples (Ofcom 07700 900xxx, 0131 496 0xxx, 020 7946 0xxx; North
American 555-01xx; ARCEP 01 99 00 xx xx, 06 39 98 xx xx). Names are common first names and
surnames, not people.

A line is {"id", "language", "text", "spans": [{"start", "end", "kind"}], "held_out"}. In the
templates (phi_corpus_templates.txt), [[kind:words]] marks a labelled span and <TOKEN> a
generated number. A label says what a careful human reviewer would remove, whatever the
checker does; a few mark an identifier the checker is not meant to find (a name nobody
introduces), so that recall is honest.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

OUT = Path(__file__).with_name("phi_corpus.jsonl")
rng = random.Random(20250612)  # noqa: S311  (made-up fixtures, not secrets)


def nhs_check(nine: str) -> int:
    remainder = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True)) % 11
    return (11 - remainder) % 11          # 10 means no valid number


def nhs(layout: str = "spaced", valid: bool = True, prefix: str = "999") -> str:
    while True:
        nine = prefix + "".join(rng.choice("0123456789") for _ in range(9 - len(prefix)))
        check = nhs_check(nine)
        if check != 10:
            break
    last = check if valid else (check + rng.randint(1, 9)) % 10
    return lay_out(nine + str(last), layout)


def chi(layout: str = "spaced", valid: bool = True) -> str:
    while True:
        born = date(1925, 1, 1) + timedelta(days=rng.randrange(365 * 40))
        eight = born.strftime("%d%m%y") + "".join(rng.choice("0123456789") for _ in range(3))
        check = nhs_check(eight)
        if check != 10:
            break
    last = check if valid else (check + rng.randint(1, 9)) % 10
    digits = eight + str(last)
    return f"{digits[:6]} {digits[6:]}" if layout == "spaced" else digits


def bc_check(eight: str) -> int:
    total = sum(int(d) * w % 11 for d, w in zip(eight, (2, 4, 8, 5, 10, 9, 7, 3), strict=True))
    return (11 - total % 11) % 11


def phn(layout: str = "spaced", valid: bool = True) -> str:
    while True:
        eight = "".join(rng.choice("0123456789") for _ in range(8))
        check = bc_check(eight)
        if check != 10:
            break
    last = check if valid else (check + rng.randint(1, 9)) % 10
    digits = "9" + eight + str(last)
    return f"{digits[:4]} {digits[4:7]} {digits[7:]}" if layout == "spaced" else digits


def luhn_digit(nine: str) -> int:
    total = 0
    for position, digit in enumerate(reversed(nine)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def ohip(layout: str = "dashed", version: str = "", valid: bool = True) -> str:
    nine = str(rng.randint(1, 8)) + "".join(rng.choice("0123456789") for _ in range(8))
    check = luhn_digit(nine)
    digits = nine + str(check if valid else (check + rng.randint(1, 9)) % 10)
    sep = {"dashed": "-", "spaced": " ", "bare": ""}[layout]
    text = f"{digits[:4]}{sep}{digits[4:7]}{sep}{digits[7:]}" if sep else digits
    return f"{text}{sep or ''}{version}" if version else text


def ramq(layout: str = "spaced", valid: bool = True) -> str:
    surname = rng.choice(["TREM", "GAGN", "ROYM", "COTE", "BOUC", "GAUT", "MORI", "LAVO"])
    letters = surname[:3] + rng.choice("ABCDEFGHIJLMNPRS")
    born = date(1925, 1, 1) + timedelta(days=rng.randrange(365 * 45))
    month = born.month + (50 if rng.random() < 0.5 else 0)
    if not valid:
        month = rng.choice([13, 14, 33, 49, 63, 70])
    digits = f"{born:%y}{month:02d}{born:%d}{rng.randint(10, 99)}"
    return f"{letters} {digits[:4]} {digits[4:]}" if layout == "spaced" else letters + digits


def uk_drama_mobile(spaced: bool = True) -> str:
    tail = f"{rng.randint(0, 999):03d}"
    return f"07700 900{tail}" if spaced else f"07700900{tail}"


def uk_drama_landline() -> str:
    return rng.choice([f"0131 496 0{rng.randint(0, 999):03d}", f"020 7946 0{rng.randint(0, 999):03d}",
                       f"0113 496 0{rng.randint(0, 999):03d}", f"0161 496 0{rng.randint(0, 999):03d}"])


def nanp(style: str = "dashed") -> str:
    area = rng.choice(["613", "514", "416", "819", "418", "604", "905", "204"])
    line = f"01{rng.randint(0, 99):02d}"
    return {"dashed": f"{area}-555-{line}", "paren": f"({area}) 555-{line}",
            "spaced": f"{area} 555 {line}", "quebec": f"{area} 555-{line}",
            "intl": f"+1 {area} 555 {line}"}[style]


def fr_phone(international: bool = False) -> str:
    pairs = f"{rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"
    return f"+33 1 99 00 {pairs}" if international else rng.choice([f"01 99 00 {pairs}", f"06 39 98 {pairs}"])


def lay_out(digits: str, layout: str) -> str:
    return {"spaced": f"{digits[:3]} {digits[3:6]} {digits[6:]}", "bare": digits,
            "dashed": f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"}[layout]


def digits(count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


TOKENS: dict[str, Callable[[], str]] = {
    "NHS_SP": nhs, "NHS_BARE": lambda: nhs("bare"), "NHS_DASH": lambda: nhs("dashed"),
    "NHS_BAD_SP": lambda: nhs(valid=False), "NHS_BAD_BARE": lambda: nhs("bare", valid=False),
    "CHI_SP": chi, "CHI_BARE": lambda: chi("bare"), "CHI_BAD": lambda: chi(valid=False),
    "PHN_SP": phn, "PHN_BARE": lambda: phn("bare"), "PHN_BAD": lambda: phn(valid=False),
    "OHIP_V": lambda: ohip(version=rng.choice(["KT", "AB", "XY", "MN"])),
    "OHIP_SP": lambda: ohip("spaced"), "OHIP_BARE": lambda: ohip("bare"),
    "OHIP_BAD": lambda: ohip(valid=False),
    "RAMQ_SP": ramq, "RAMQ_BARE": lambda: ramq("bare"), "RAMQ_BAD": lambda: ramq(valid=False),
    "UK_MOB": uk_drama_mobile, "UK_MOB_BARE": lambda: uk_drama_mobile(False),
    "UK_LAND": uk_drama_landline, "UK_INTL": lambda: "+44 " + uk_drama_landline()[1:],
    "NANP": nanp, "NANP_PAREN": lambda: nanp("paren"), "NANP_SP": lambda: nanp("spaced"),
    "NANP_QC": lambda: nanp("quebec"), "NANP_INTL": lambda: nanp("intl"),
    "FR_PHONE": fr_phone, "FR_INTL": lambda: fr_phone(True),
    "D4": lambda: digits(4), "D5": lambda: digits(5), "D6": lambda: digits(6),
    "D7": lambda: digits(7), "D8": lambda: digits(8),
}

TEMPLATES = Path(__file__).with_name("phi_corpus_templates.txt")


def parse(template: str) -> tuple[str, list[dict[str, int | str]]]:
    filled = re.sub(r"<([A-Z0-9_]+)>", lambda m: TOKENS[m[1]](), template)
    text, spans, position = "", [], 0
    for match in re.finditer(r"\[\[([a-z_0-9]+):(.+?)\]\]", filled):
        text += filled[position:match.start()]
        spans.append({"start": len(text), "end": len(text) + len(match[2]), "kind": match[1]})
        text += match[2]
        position = match.end()
    return text + filled[position:], spans


def main() -> None:
    lines = []
    language, held_out = "en", False
    for raw in TEMPLATES.read_text(encoding="utf-8").splitlines():
        template = raw.strip()
        if template.startswith("## "):
            language, _, part = template[3:].partition(" ")
            held_out = part == "held-out"
        elif template and not template.startswith("#"):
            text, spans = parse(template)
            lines.append({"id": len(lines) + 1, "language": language, "text": text, "spans": spans,
                          "held_out": held_out})
    OUT.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    print(f"{len(lines)} sentences, {sum(len(line['spans']) for line in lines)} labelled spans -> {OUT}")


if __name__ == "__main__":
    main()
