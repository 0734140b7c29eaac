"""Name keys that know how South Asian names are written in Latin letters.

The same person is written Muhammad / Mohammad / Mohd / Md, Khan / Kan / Khaan, Yousaf /
Yusuf, Tariq / Tarik, Sameer / Samir, Noor / Nur, Abdul Rahman / Abdulrahman / Abd ul
Rahman, Hammad / Hamad. Three keys, computed once per distinct name (a registry has far
fewer distinct names than persons), are what the comparisons and blocking rules use:

- ``clean``: lower case, letters and single spaces only ("Muhammad  Ali-Khan" -> "muhammad ali khan").
- ``key`` (transliteration key): ``clean`` with every spelling of Muhammad written "mhd",
  "abd ul"/"abdul" joined, then kh -> k, q -> k, gh -> g, ph -> f, ee -> i, oo/ou -> u,
  w -> v... letters doubled written once, spaces dropped. Two spellings of one
  name usually share this key.
- ``core``: the key without a leading Muhammad or title (Bibi, Syed, Haji, Hafiz, Mian,
  Maulana): men are recorded with and without Muhammad, women with and without Bibi.
- ``skeleton``: the key's first letter and its consonants (vowels and y, h dropped):
  Yousaf, Yusuf and Yousuf all give "ysf". Coarser: used for blocking and a weak level.

Pure Python on strings; ``keys_frame`` applies them to a pandas column through its
distinct values.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pandas as pd

# Short forms of Muhammad, as whole words (after clean()); longer spellings are recognised by
# _MUHAMMAD_SPELLED (Muhammad, Mohammad, Mohammed, Muhamad, Moohammad, Mohmmad...).
MUHAMMAD_SHORT: frozenset[str] = frozenset({"mohd", "muhd", "mhd", "md", "mohmd", "m"})
MUHAMMAD = "mhd"
# Leading words recorded or left out at will, as spelled after clean() and the spelling rules
# (bibee, beebi -> bibi; sayyid -> sayid): the core leaves them out.
TITLES: frozenset[str] = frozenset({
    "bibi", "bi", "syed", "sayed", "sayid", "said", "sied", "haji", "hafiz", "hafez", "mian",
    "mia", "maulana", "molana", "mulana", "maulvi", "molvi", "sahibzada", "pir", "qazi",
    "kazi", "sardar",
})

# Spelling rules applied in order to the joined name (after clean and Muhammad).
_RULES: tuple[tuple[str, str], ...] = (
    ("kh", "k"), ("gh", "g"), ("ph", "f"), ("sh", "s"), ("ch", "c"), ("th", "t"),
    ("dh", "d"), ("bh", "b"), ("q", "k"), ("ck", "k"), ("w", "v"),
    ("ee", "i"), ("ii", "i"), ("oo", "u"), ("ou", "u"), ("uu", "u"), ("aa", "a"),
    ("ei", "i"), ("ey", "i"), ("ay", "ai"),
)
_NOT_LETTERS = re.compile(r"[^a-z ]+")
_SPACES = re.compile(r"\s+")
_DOUBLED = re.compile(r"(.)\1+")
_VOWELS = re.compile(r"[aeiouyh]")
# After the spelling rules: m, then u/o, an optional h, vowels, m, vowels, d ("mahmud" is not).
_MUHAMMAD_SPELLED = re.compile(r"^m[uo]+h?[aeiou]*m[aeiou]*d$")
# A slip in Muhammad ("Muhmamad", "Mohmed", "Mahmad"): its consonants m-h-m-d or m-m-d with
# any vowels and an -ad/-ed ending; Mahmood and Mahmud end otherwise and stay themselves.
_MUHAMMAD_SLIP = re.compile(r"^m[aeiou]*h?[aeiou]*m+[aeiou]*m*[aeiou]*[ae]d$")


def is_muhammad(word: str) -> bool:
    """Whether a cleaned word is a spelling of Muhammad."""
    spelled = _spell(word)
    return (word in MUHAMMAD_SHORT or bool(_MUHAMMAD_SPELLED.match(spelled))
            or (len(word) <= 10 and bool(_MUHAMMAD_SLIP.match(spelled)))
            or (6 <= len(word) <= 10 and word.startswith("m") and word.endswith(("ad", "ed"))
                and min(_distance(word, m) for m in _MUHAMMAD_FULL) <= 2))


@lru_cache(maxsize=200_000)
def clean(name: str | None) -> str | None:
    """Lower case, accents dropped, letters and single spaces only; None when nothing is left."""
    if name is None or (isinstance(name, float) and name != name):
        return None
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = _SPACES.sub(" ", _NOT_LETTERS.sub(" ", text.lower())).strip()
    return text or None


# Full spellings a typed Muhammad is measured against ("Muhanmad", "Mhuhamad": a word of m,
# two slips at most, ending -ad/-ed; Mohmand, Mahmood and Mahmud are three or more away,
# Hammad begins otherwise).
_MUHAMMAD_FULL: tuple[str, ...] = ("muhammad", "mohammad", "muhammed")


def _distance(a: str, b: str) -> int:
    """Edit distance with adjacent transpositions (optimal string alignment)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if (i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]):
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def is_title(word: str) -> bool:
    """Whether a cleaned word is a title the core leaves out, Bibi also with one slip ("Bib",
    "Biib", "Bbii")."""
    spelled = _spell(word)
    return spelled in TITLES or (3 <= len(word) <= 5 and _distance(word, "bibi") <= 1)


def _words(cleaned: str) -> list[str]:
    words = [MUHAMMAD if is_muhammad(w) else w for w in cleaned.split(" ")]
    # "Abd ul Rahman", "Abdul Rahman", "Abdur Rahman" -> one word "abdulrahman".
    joined: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "abd" and i + 1 < len(words) and words[i + 1] in ("ul", "al", "ur", "ar"):
            word, i = "abdul", i + 1
        if word in ("abdul", "abdur", "abdal") and i + 1 < len(words):
            word, i = "abdul" + words[i + 1], i + 1
        joined.append(word)
        i += 1
    return joined


def _spell(word: str) -> str:
    for old, new in _RULES:
        word = word.replace(old, new)
    return _DOUBLED.sub(r"\1", word)


@lru_cache(maxsize=200_000)
def key(name: str | None) -> str | None:
    """The transliteration key: two spellings of one name usually share it."""
    cleaned = clean(name)
    if cleaned is None:
        return None
    return "".join(_spell(w) if w != MUHAMMAD else MUHAMMAD for w in _words(cleaned)) or None


@lru_cache(maxsize=200_000)
def core(name: str | None) -> str | None:
    """The key without a leading Muhammad or title ("Muhammad Ali" and "Ali", "Bibi Fatima"
    and "Fatima" share it); a name that is only such words keeps them."""
    cleaned = clean(name)
    if cleaned is None:
        return None
    words = _words(cleaned)
    while len(words) > 1 and (words[0] == MUHAMMAD or is_title(words[0])):
        words = words[1:]
    return "".join(_spell(w) if w != MUHAMMAD else MUHAMMAD for w in words) or None


@lru_cache(maxsize=200_000)
def skeleton(name: str | None) -> str | None:
    """First letter and consonants of the core key: Yousaf, Yusuf, Yousuf -> "ysf"."""
    base = core(name)
    if base is None:
        return None
    return base[0] + _DOUBLED.sub(r"\1", _VOWELS.sub("", base[1:]))


def keys_frame(names: pd.Series, prefix: str) -> pd.DataFrame:
    """``<prefix>_clean``, ``<prefix>_key``, ``<prefix>_core``, ``<prefix>_skel`` for a column
    of names, computed once per distinct name."""
    distinct = pd.Series(names.dropna().unique())
    table = pd.DataFrame({
        "name": distinct,
        f"{prefix}_clean": [clean(n) for n in distinct],
        f"{prefix}_key": [key(n) for n in distinct],
        f"{prefix}_core": [core(n) for n in distinct],
        f"{prefix}_skel": [skeleton(n) for n in distinct],
    })
    out = pd.DataFrame({"name": names.to_numpy()}, index=names.index).merge(
        table, on="name", how="left")
    out.index = names.index
    return out.drop(columns="name").astype(object).where(out.drop(columns="name").notna(), None)
