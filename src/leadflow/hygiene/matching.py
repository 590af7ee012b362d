"""Pure duplicate-detection engine: blocking, field comparisons, Fellegi-Sunter weights, match probability.

No Django here. The same engine serves the intake flow (one new lead against its blocked candidates), the
background full scan, imports and the file-level `leadflow dedupe` runner.

1. ``prepare`` cleans each configured field (case, whitespace) and drops placeholder values ("test",
   "n/a", "asdf", 000…): a placeholder is treated as missing, so it never forms a blocking key and never
   contributes to a match.
2. ``candidate_pairs`` joins records that share a blocking key (normalized email, phone, phonetic
   name + company key, …); any rule is enough.
3. ``compare`` gives each pair, field by field, a comparison level: exact, similar (Jaro-Winkler or edit
   distance), same phonetic code, numeric/date within tolerance, swapped with a partner field (first and
   last name the wrong way round), different, or missing (-1).
4. ``score`` turns the levels into a match probability: the sum of the Fellegi-Sunter weights
   log2(m/u) of each field's level plus the prior's log-odds. ``explain`` lists every field's share.
5. ``train`` learns u from random pairs (less the matches among them) and m and the prior (over all
   pairs) by expectation-maximisation over the blocked pairs, when no configured weights are wanted.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property, lru_cache
from typing import Any

import jellyfish
import numpy as np
import pandas as pd
from cleanco import prepare_default_terms
from cleanco.clean import normalized, strip_punct, strip_tail
from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.process import cpdist

__all__ = [
    "COMPARATORS",
    "DEFAULT_CONFIG",
    "FieldEvidence",
    "FieldSpec",
    "MatchConfig",
    "Matcher",
    "PairScore",
    "Prepared",
    "company_key",
    "is_placeholder",
]

# ------------------------------------------------------------------------------------------------
# Placeholder and garbage values
# ------------------------------------------------------------------------------------------------

_PLACEHOLDER_WORDS = frozenset(
    {
        "test", "testing", "tester", "test test", "n/a", "na", "n.a.", "none", "null", "nil", "nan",
        "undefined", "unknown", "asdf", "asdfg", "asdfgh", "asdfasdf", "qwerty", "qwer", "zxcv", "xxx", "abc",
        "abcd", "abc123", "foo", "bar", "foobar", "baz", "dummy", "fake", "sample", "example", "tbd", "tba",
        "noname", "no name", "nobody", "anonymous", "someone", "somebody", "private", "lorem", "lorem ipsum",
        "blah", "blabla", "aaa", "-", "--", ".", "?", "x", "no", "nope", "not provided", "not available",
        "company", "my company", "none of your business", "self", "home", "mr", "mrs", "ms",
    }
)  # fmt: skip
_PLACEHOLDER_EMAIL_LOCALS = frozenset(
    {"noemail", "no-email", "no_email", "nomail", "none", "test", "asdf", "example", "fake", "dummy", "null",
     "na", "noreply", "no-reply", "donotreply", "do-not-reply", "abc", "xxx", "qwerty", "foo", "email"}
)  # fmt: skip
_PLACEHOLDER_EMAIL_DOMAINS = frozenset(
    {"test.com", "test.de", "email.test", "asdf.com",
     "domain.com", "invalid", "localhost", "noemail.com", "none.com", "xxx.com", "fake.com"}
)  # fmt: skip
_KEYBOARD_RUNS = (
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "9876543210",
)
_ALNUM_RE = re.compile(r"[^0-9a-z]+")
_SHORT_NUMBER = 4  # digits; up to this length repeated digits and runs (11, 123, 4567) are not filler


@lru_cache(maxsize=65536)
def is_placeholder(value: str) -> bool:
    """Whether ``value`` is empty, a filler word, a keyboard run, one repeated character or a fake email."""
    text = " ".join(value.strip().casefold().split())
    if not text or text in _PLACEHOLDER_WORDS:
        return True
    if "@" in text:
        local, _, domain = text.rpartition("@")
        return (
            (len(local) > 2 and is_placeholder(local))
            or local in _PLACEHOLDER_EMAIL_LOCALS
            or domain in _PLACEHOLDER_EMAIL_DOMAINS
        )
    compact = _ALNUM_RE.sub("", text)
    if not compact:
        return True
    if compact.isdigit() and len(compact) <= _SHORT_NUMBER:
        # A short number is a house number, postcode, floor or year, and 11, 22, 123 or 4567 are as real as
        # any other (11 is the most common house number of all): only all zeros count as filler.
        return len(compact) >= 2 and set(compact) == {"0"}
    if len(compact) >= 2 and len(set(compact)) == 1:
        return True  # 00000, aaaa, xxxxx
    if len(compact) >= 3 and any(compact in run for run in _KEYBOARD_RUNS):
        return True  # 12345678, asdf, qwerty, abcd
    return compact in _PLACEHOLDER_WORDS


# ------------------------------------------------------------------------------------------------
# Keys
# ------------------------------------------------------------------------------------------------

_SPACE_PUNCT_RE = re.compile(r"[^\w]+")


def _terms_by_last_word() -> dict[str, list[tuple[int, list[str]]]]:
    """cleanco's legal terms in its matching order, grouped by their last word."""
    grouped: dict[str, list[tuple[int, list[str]]]] = {}
    for position, (_, parts) in enumerate(prepare_default_terms()):
        grouped.setdefault(parts[-1], []).append((position, parts))
    return grouped


_LEGAL_TERMS = _terms_by_last_word()


def legal_basename(name: str) -> str:
    """cleanco's ``basename`` (legal suffixes removed), found by the last word instead of by trying each
    of its several hundred terms: the same terms, tried in the same order, with the same result."""
    name = strip_tail(name)
    parts = name.split()
    normal = [strip_punct(part) for part in normalized(name).split()]
    position = 0
    while normal:
        matches = (
            (at, terms)
            for at, terms in _LEGAL_TERMS.get(normal[-1], ())
            if at >= position and normal[-len(terms) :] == terms
        )
        found = next(matches, None)
        if found is None:
            break
        position, terms = found[0] + 1, found[1]
        del normal[-len(terms) :]
        del parts[-len(terms) :]
    return strip_tail(" ".join(parts))


@lru_cache(maxsize=65536)
def company_key(name: str) -> str:
    """A company name without legal suffixes (Inc, GmbH, Ltd, …), case, accents and punctuation."""
    stripped = legal_basename(name.strip()) or name
    text = unicodedata.normalize("NFKD", stripped.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    words = [w for w in _SPACE_PUNCT_RE.split(text) if w and w not in {"the", "and", "co"}]
    return " ".join(words)


def _prefix(length: int) -> Any:
    return lambda value: value[:length]


_TRANSFORMS: dict[str, Any] = {
    "metaphone": lambda v: jellyfish.metaphone(v) or None,
    "nysiis": lambda v: jellyfish.nysiis(v) or None,
    "soundex": lambda v: jellyfish.soundex(v) or None,
    "company": lambda v: company_key(v) or None,
    "digits": lambda v: re.sub(r"\D", "", v) or None,
    "first2": _prefix(2),
    "first3": _prefix(3),
    "first4": _prefix(4),
    "first6": _prefix(6),
    "last4": lambda v: v[-4:],
    "year": lambda v: v[:4],
}

# ------------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------------

# comparator -> its default levels (besides "different") and their default m / u probabilities.
COMPARATORS = ("exact", "string", "name", "company", "code", "numeric", "date", "email", "phonetic")


@dataclass(frozen=True)
class FieldSpec:
    """One field that takes part in matching, and how two of its values are compared."""

    name: str
    comparator: str = "string"
    # string/name/email: Jaro-Winkler similarity thresholds; code: edit distances; numeric: absolute
    # differences; date: day differences. Each threshold is one level below "exact".
    thresholds: tuple[float, ...] = ()
    # Configured probabilities per level (exact, then each threshold, then "different"); learned if empty.
    m: tuple[float, ...] = ()
    u: tuple[float, ...] = ()
    # Another field the two values are often entered in the wrong way round with (first and last name,
    # address lines 1 and 2): adds a level "swapped with <field>", just above "different", for pairs whose
    # two fields agree crosswise (this field with the other record's partner field, and vice versa).
    swap_with: str | None = None

    def __post_init__(self) -> None:
        if self.comparator not in COMPARATORS:
            raise ValueError(f"Field {self.name!r}: unknown comparator {self.comparator!r}")
        if self.swap_with is not None and (
            self.swap_with == self.name or self.comparator in ("numeric", "date")
        ):
            raise ValueError(f"Field {self.name!r}: cannot be swapped with {self.swap_with!r}")
        if self.m and len(self.m) != len(self.level_labels):
            raise ValueError(f"Field {self.name!r}: m needs {len(self.level_labels)} values")
        if self.u and len(self.u) != len(self.level_labels):
            raise ValueError(f"Field {self.name!r}: u needs {len(self.level_labels)} values")

    @cached_property
    def effective_thresholds(self) -> tuple[float, ...]:
        if self.thresholds:
            return self.thresholds
        return {
            "string": (0.92, 0.8),
            "name": (0.92, 0.8),
            "company": (0.9,),
            "code": (1.0, 2.0),
            "numeric": (),
            "date": (),
        }.get(self.comparator, ())

    @cached_property
    def level_labels(self) -> tuple[str, ...]:
        """Human labels for each level, index = level."""
        t = self.effective_thresholds
        labels = ["exact"]
        if self.comparator == "string":
            labels += [f"similar (Jaro-Winkler ≥ {x:g})" for x in t]
        elif self.comparator == "email":
            labels.append("same address before the @")
        elif self.comparator == "company":
            labels[0] = "same company (legal suffixes ignored)"
            labels += [f"similar company (Jaro-Winkler ≥ {x:g})" for x in t]
        elif self.comparator == "name":
            labels.append(f"similar (Jaro-Winkler ≥ {t[0]:g})")
            labels.append("sounds the same")
            labels += [f"similar (Jaro-Winkler ≥ {x:g})" for x in t[1:]]
        elif self.comparator == "phonetic":
            labels.append("sounds the same")
        elif self.comparator == "code":
            labels += [f"{x:g} edit{'s' if x != 1 else ''} apart" for x in t]
        elif self.comparator == "numeric":
            labels += [f"within {x:g}" for x in t]
        elif self.comparator == "date":
            labels.append("one typo or day/month swapped")
            labels += [f"within {x:g} days" for x in t]
        if self.swap_with is not None:
            labels.append(f"swapped with {self.swap_with}")
        labels.append("different")
        return tuple(labels)


def _default_probabilities(spec: FieldSpec) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Prior m/u per level before any training: agreement is likely for matches, rare for non-matches."""
    n = len(spec.level_labels)
    u_exact = {"email": 1e-5, "code": 1e-4, "date": 1e-3, "phonetic": 5e-3, "name": 3e-3}.get(
        spec.comparator, 1e-2
    )
    m = [0.8] + [0.15 / max(n - 2, 1)] * (n - 2) + [0.05]
    u = [u_exact] + [min(u_exact * 5 * (i + 1), 0.2) for i in range(n - 2)]
    u.append(max(1.0 - sum(u), 0.5))
    return tuple(m), tuple(u)


@dataclass(frozen=True)
class MatchConfig:
    """Which fields take part, how records are blocked, the prior and the two decision thresholds."""

    fields: tuple[FieldSpec, ...]
    blocking: tuple[tuple[str, ...], ...]
    # Probability that two records match before looking at their fields: over all pairs, blocked or not,
    # as u is (blocking only decides which pairs get compared). A trained matcher learns it.
    prior: float = 1e-3
    auto_merge: float = 0.99  # at or above: merged automatically
    review: float = 0.8  # at or above (and below auto_merge): sent to the review queue
    max_block_size: int = 1000  # a blocking key shared by more records is too common to be useful

    def __post_init__(self) -> None:
        if not 0 < self.review <= self.auto_merge <= 1:
            raise ValueError("Thresholds must satisfy 0 < review ≤ auto_merge ≤ 1.")
        names = {f.name for f in self.fields}
        for rule in self.blocking:
            for part in rule:
                name, _, transform = part.partition(":")
                if transform and transform not in _TRANSFORMS:
                    raise ValueError(f"Blocking rule {part!r}: unknown transform {transform!r}")
                if not name:
                    raise ValueError(f"Blocking rule {part!r} names no field")
        if len(names) != len(self.fields):
            raise ValueError("Each field may appear once.")
        for spec in self.fields:
            if spec.swap_with is not None and spec.swap_with not in names:
                raise ValueError(
                    f"Field {spec.name!r}: swap_with {spec.swap_with!r} is not a configured field"
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MatchConfig:
        fields = tuple(
            FieldSpec(
                name=str(f["name"]),
                comparator=str(f.get("comparator", "string")),
                thresholds=tuple(float(x) for x in f.get("thresholds", ())),
                m=tuple(float(x) for x in f.get("m", ())),
                u=tuple(float(x) for x in f.get("u", ())),
                swap_with=str(f["swap_with"]) if f.get("swap_with") else None,
            )
            for f in data["fields"]
        )
        blocking = tuple(
            tuple(str(p) for p in ([rule] if isinstance(rule, str) else rule)) for rule in data["blocking"]
        )
        options = {k: data[k] for k in ("prior", "auto_merge", "review", "max_block_size") if k in data}
        return cls(fields=fields, blocking=blocking, **options)

    @classmethod
    def from_json(cls, text: str) -> MatchConfig:
        return cls.from_dict(json.loads(text))

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": [
                {
                    "name": f.name,
                    "comparator": f.comparator,
                    "thresholds": list(f.thresholds),
                    "m": list(f.m),
                    "u": list(f.u),
                    **({"swap_with": f.swap_with} if f.swap_with else {}),
                }
                for f in self.fields
            ],
            "blocking": [list(rule) for rule in self.blocking],
            "prior": self.prior,
            "auto_merge": self.auto_merge,
            "review": self.review,
            "max_block_size": self.max_block_size,
        }

    @cached_property
    def referenced_fields(self) -> tuple[str, ...]:
        names = [f.name for f in self.fields]
        for rule in self.blocking:
            for part in rule:
                name = part.partition(":")[0]
                if name not in names:
                    names.append(name)
        return tuple(names)


# The lead fields compared by default; custom fields join through configuration ("custom.<key>").
DEFAULT_CONFIG = MatchConfig(
    fields=(
        FieldSpec("email", "email", m=(0.9, 0.08, 0.02), u=(1e-6, 1e-4, 0.999899)),
        FieldSpec("phone", "code", thresholds=(1,), m=(0.85, 0.05, 0.1), u=(1e-6, 1e-5, 0.99999)),
        FieldSpec(
            "first_name", "name", m=(0.85, 0.05, 0.04, 0.03, 0.03), u=(0.004, 0.002, 0.006, 0.02, 0.968)
        ),
        FieldSpec(
            "last_name", "name", m=(0.88, 0.05, 0.03, 0.02, 0.02), u=(0.001, 0.001, 0.003, 0.015, 0.98)
        ),
        FieldSpec("company", "company", m=(0.8, 0.1, 0.1), u=(0.001, 0.004, 0.995)),
        FieldSpec("city", "string", thresholds=(0.9,), m=(0.8, 0.05, 0.15), u=(0.01, 0.01, 0.98)),
        FieldSpec("country", "exact", m=(0.95, 0.05), u=(0.2, 0.8)),
    ),
    blocking=(
        ("email",),
        ("phone",),
        ("last_name:metaphone", "first_name:metaphone"),
        ("last_name:metaphone", "company:company"),
        ("first_name:metaphone", "company:company"),
    ),
    prior=0.001,
    auto_merge=0.99,
    review=0.8,
)

# ------------------------------------------------------------------------------------------------
# Engine
# ------------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """Cleaned field values of a set of records (placeholders → None), by field name."""

    ids: list[Any]
    values: dict[str, np.ndarray]
    cache: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class FieldEvidence:
    """One field's share of a pair's match probability."""

    field: str
    level: str
    weight: float  # log2(m/u); 0 when a value is missing
    left: Any
    right: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "level": self.level,
            "weight": round(self.weight, 2),
            "left": self.left,
            "right": self.right,
        }


@dataclass(frozen=True)
class PairScore:
    left: Any
    right: Any
    probability: float
    evidence: tuple[FieldEvidence, ...] = field(default=())


def _clean(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return _clean_text(value if isinstance(value, str) else str(value))


@lru_cache(maxsize=1 << 16)
def _clean_text(text: str) -> str | None:
    """Case-folded, whitespace-collapsed text; None for a placeholder (names, companies and cities repeat
    from record to record, hence the cache)."""
    text = " ".join(text.casefold().split())
    return None if is_placeholder(text) else text


def _to_ordinal(value: str | None) -> float:
    """Days since year 1 of an ISO date (YYYY-MM-DD or YYYYMMDD); NaN when not a date."""
    if not value:
        return math.nan
    digits = re.sub(r"\D", "", value)
    if len(digits) != 8:
        return math.nan
    try:
        return float(date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])).toordinal())
    except ValueError:
        return math.nan


def _swap_day_month(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return digits[:4] + digits[6:8] + digits[4:6] if len(digits) == 8 else value


def _to_float(value: str | None) -> float:
    if value is None:
        return math.nan
    try:
        return float(value.replace(",", ""))
    except ValueError:
        return math.nan


class Matcher:
    """Scores record pairs with one configuration; ``train`` returns a matcher with learned weights."""

    def __init__(self, config: MatchConfig) -> None:
        self.config = config
        self.weights: list[np.ndarray] = []
        for spec in config.fields:
            m, u = (spec.m, spec.u) if spec.m and spec.u else _default_probabilities(spec)
            if spec.m and not spec.u:
                m = spec.m
            if spec.u and not spec.m:
                u = spec.u
            self.weights.append(np.log2(np.asarray(m, dtype=float) / np.asarray(u, dtype=float)))
        # One row per field, padded with zeros: level -1 (missing) reads the last column, weight 0.
        self._weight_table = np.zeros((len(self.weights), max((len(w) for w in self.weights), default=0) + 1))
        for f, table in enumerate(self.weights):
            self._weight_table[f, : len(table)] = table
        self.prior_logit = math.log2(config.prior / (1 - config.prior))

    # 1. prepare --------------------------------------------------------------------------------
    def prepare(self, records: Sequence[Mapping[str, Any]], *, ids: Sequence[Any] | None = None) -> Prepared:
        """Clean every referenced field; ``ids`` default to positions."""
        values = {
            name: np.array([_clean(_lookup(record, name)) for record in records], dtype=object)
            for name in self.config.referenced_fields
        }
        return Prepared(ids=list(ids) if ids is not None else list(range(len(records))), values=values)

    # 2. blocking -------------------------------------------------------------------------------
    def blocking_keys(self, prepared: Prepared) -> list[np.ndarray]:
        """Per rule, each record's key (None when any part is missing)."""
        keys = []
        for rule in self.config.blocking:
            parts = []
            for part in rule:
                name, _, transform = part.partition(":")
                column = prepared.values[name]
                if transform:
                    fn = _TRANSFORMS[transform]
                    column = np.array([fn(v) if v is not None else None for v in column], dtype=object)
                parts.append(column)
            joined = np.array(
                [
                    None if any(p is None for p in row) else "\x1f".join(row)
                    for row in zip(*parts, strict=True)
                ],
                dtype=object,
            )
            keys.append(joined)
        return keys

    def rule_keys(self, record: Mapping[str, Any]) -> list[str]:
        """The blocking keys of one record, prefixed by rule number: what the database indexes (the keys
        ``blocking_keys`` gives, computed without arrays: the in-flow check asks for one record's)."""
        keys = []
        for number, rule in enumerate(self.config.blocking):
            parts = []
            for part in rule:
                name, _, transform = part.partition(":")
                value = _clean(_lookup(record, name))
                if value is not None and transform:
                    value = _TRANSFORMS[transform](value)
                if value is None:
                    break
                parts.append(value)
            else:
                keys.append(f"{number}:" + "\x1f".join(parts))
        return keys

    def candidate_pairs(self, left: Prepared, right: Prepared | None = None) -> np.ndarray:
        """Index pairs (i, j) sharing a blocking key: within ``left`` (i < j), or ``left`` × ``right``."""
        linking = right is not None
        left_keys = self.blocking_keys(left)
        right_keys = self.blocking_keys(right) if right is not None else left_keys
        found = []
        for lk, rk in zip(left_keys, right_keys, strict=True):
            codes_l, codes_r = _joint_codes(lk, None if not linking else rk)
            size = max(codes_l.max(initial=0), codes_r.max(initial=0)) + 1
            sizes = np.bincount(codes_r[codes_r >= 0], minlength=size)
            usable_l = (codes_l >= 0) & (sizes[np.maximum(codes_l, 0)] <= self.config.max_block_size)
            usable_r = (codes_r >= 0) & (sizes[np.maximum(codes_r, 0)] <= self.config.max_block_size)
            a = pd.DataFrame({"key": codes_l[usable_l], "i": np.flatnonzero(usable_l)})
            b = pd.DataFrame({"key": codes_r[usable_r], "j": np.flatnonzero(usable_r)})
            joined = a.merge(b, on="key")
            if not linking:
                joined = joined[joined["i"] < joined["j"]]
            found.append(joined[["i", "j"]].to_numpy(dtype=np.int64))
        if not found:
            return np.empty((0, 2), dtype=np.int64)
        pairs = np.concatenate(found)
        return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)

    # 3. compare --------------------------------------------------------------------------------
    def compare(self, left: Prepared, right: Prepared, pairs: np.ndarray) -> np.ndarray:
        """Comparison levels, shape (pairs, fields): 0 = exact, …, last = different, -1 = missing."""
        levels = np.empty((len(pairs), len(self.config.fields)), dtype=np.int8)
        if len(pairs) <= SCALAR_PAIRS:
            for row, (i, j) in enumerate(pairs.tolist()):
                levels[row] = [_compare_one(spec, left, right, i, j) for spec in self.config.fields]
        else:
            for f, spec in enumerate(self.config.fields):
                levels[:, f] = _compare_field(spec, left, right, pairs)
        return levels

    # 4. score ----------------------------------------------------------------------------------
    def match_weights(self, levels: np.ndarray) -> np.ndarray:
        """Per pair and field, the weight log2(m/u) of its level (0 when missing)."""
        return self._weight_table[np.arange(levels.shape[1]), levels]

    def probabilities(self, levels: np.ndarray) -> np.ndarray:
        total = self.prior_logit + self.match_weights(levels).sum(axis=1)
        return 1.0 / (1.0 + np.exp2(-np.clip(total, -200, 200)))

    def explain(
        self, left: Prepared, right: Prepared, i: int, j: int, levels: np.ndarray | None = None
    ) -> PairScore:
        """The probability of one pair with every field's level, weight and values; pass the pair's row of
        ``compare`` as ``levels`` when it is known."""
        if levels is None:
            levels = self.compare(left, right, np.array([[i, j]], dtype=np.int64))[0]
        row = levels.reshape(1, -1)
        weights = self.match_weights(row)[0]
        evidence = tuple(
            FieldEvidence(
                field=spec.name,
                level="missing" if row[0, f] < 0 else spec.level_labels[row[0, f]],
                weight=float(weights[f]),
                left=left.values[spec.name][i],
                right=right.values[spec.name][j],
            )
            for f, spec in enumerate(self.config.fields)
        )
        return PairScore(left.ids[i], right.ids[j], float(self.probabilities(row)[0]), evidence)

    def score_pairs(
        self, left: Prepared, right: Prepared | None = None, *, threshold: float | None = None
    ) -> pd.DataFrame:
        """Blocked pairs at or above ``threshold`` (default: the review threshold), highest first."""
        other = right if right is not None else left
        pairs = self.candidate_pairs(left, right)
        levels = self.compare(left, other, pairs)
        probability = self.probabilities(levels)
        keep = probability >= (self.config.review if threshold is None else threshold)
        left_ids = np.asarray(left.ids, dtype=object)
        right_ids = np.asarray(other.ids, dtype=object)
        frame = pd.DataFrame(
            {
                "left_id": left_ids[pairs[keep, 0]],
                "right_id": right_ids[pairs[keep, 1]],
                "probability": probability[keep],
            }
        )
        return frame.sort_values("probability", ascending=False, kind="stable").reset_index(drop=True)

    # 5. train ----------------------------------------------------------------------------------
    def train(
        self,
        left: Prepared,
        right: Prepared | None = None,
        *,
        random_pairs: int = 200_000,
        iterations: int = 25,
        seed: int = 0,
    ) -> Matcher:
        """A matcher with u learned from random pairs, and m and the prior by EM over the blocked pairs.

        The prior is the probability that two records match over *all* pairs, the population u describes:
        a pair that shares a blocking key already agrees on the key's fields, and that agreement is counted
        by those fields' weights, so a prior among the blocked pairs would count it twice. EM runs over all
        pairs, with the pairs no blocking rule brings together taken as non-matches (posterior 0).

        Random pairs include true matches (about one in 1/prior), so their level frequencies are a mixture
        prior·m + (1 − prior)·u; u is what remains once the matches' share is taken out. Without that
        correction, every field's "exact" weight is capped near log2(1/prior) however rare agreement by
        chance is (unique ids, dates of birth).

        Configured m/u values of a field are kept as they are.
        """
        other = right if right is not None else left
        rng = np.random.default_rng(seed)
        n_random = min(random_pairs, len(left) * len(other))
        sample = np.column_stack(
            [rng.integers(0, len(left), n_random), rng.integers(0, len(other), n_random)]
        )
        if right is None:
            sample = sample[sample[:, 0] != sample[:, 1]]
        u_levels = self.compare(left, other, sample)
        blocked = self.candidate_pairs(left, right)
        levels = self.compare(left, other, blocked)
        m_tables: list[np.ndarray] = []
        u_tables: list[np.ndarray] = []
        random_tables: list[np.ndarray] = []  # level frequencies among the random pairs
        floors: list[float] = []  # the smallest u a level can have: half a pair in the sample
        for f, spec in enumerate(self.config.fields):
            size = len(spec.level_labels)
            column = u_levels[:, f]
            counts = np.bincount(column[column >= 0], minlength=size).astype(float) + 0.5
            random_tables.append(counts / counts.sum())
            floors.append(0.5 / counts.sum())
            u_tables.append(np.asarray(spec.u) if spec.u else random_tables[f])
            m_tables.append(np.asarray(spec.m) if spec.m else np.asarray(_default_probabilities(spec)[0]))
        all_pairs = max(len(left) * len(other) if right is not None else len(left) * (len(left) - 1) // 2, 1)
        prior = float(np.clip(0.1 * len(blocked) / all_pairs, 1e-12, 0.5))  # a tenth of the blocked pairs
        for _ in range(iterations):
            logit = math.log2(prior / (1 - prior)) + sum(
                np.where(
                    levels[:, f] >= 0, np.log2(m_tables[f] / u_tables[f])[np.maximum(levels[:, f], 0)], 0.0
                )
                for f in range(len(self.config.fields))
            )
            posterior = 1.0 / (1.0 + np.exp2(-np.clip(logit, -200, 200)))
            prior = float(np.clip(posterior.sum() / all_pairs, 1e-12, 1 - 1e-6))
            for f, spec in enumerate(self.config.fields):
                if spec.m:
                    continue
                column = levels[:, f]
                present = column >= 0
                size = len(spec.level_labels)
                sums = np.bincount(column[present], weights=posterior[present], minlength=size) + 1e-3
                m_tables[f] = sums / sums.sum()
            for f, spec in enumerate(self.config.fields):
                if not spec.u:
                    u = np.maximum(random_tables[f] - prior * m_tables[f], floors[f])
                    u_tables[f] = u / u.sum()
        fields = tuple(
            replace(spec, m=tuple(float(x) for x in m_tables[f]), u=tuple(float(x) for x in u_tables[f]))
            for f, spec in enumerate(self.config.fields)
        )
        return Matcher(replace(self.config, fields=fields, prior=prior))


def _lookup(record: Mapping[str, Any], name: str) -> Any:
    """A field's value; ``custom.key`` reads a nested mapping."""
    if name in record:
        return record[name]
    head, _, rest = name.partition(".")
    nested = record.get(head)
    if rest and isinstance(nested, Mapping):
        return nested.get(rest)
    return None


def _derived(prepared: Prepared, name: str, kind: str) -> np.ndarray:
    """A per-record array derived from one field (cached on ``prepared``): strings with "" for missing,
    phonetic codes, day-month-swapped dates, date ordinals or floats."""
    key = (name, kind)
    if key not in prepared.cache:
        values = prepared.values[name]
        if kind == "text":
            out = np.array(["" if v is None else v for v in values], dtype=object)
        elif kind == "company":
            out = np.array([company_key(v) or None if v else None for v in values], dtype=object)
        elif kind == "company_text":
            out = np.array([company_key(v) if v else "" for v in values], dtype=object)
        elif kind == "email_local":
            out = np.array([v.rpartition("@")[0] or None if v else None for v in values], dtype=object)
        elif kind == "metaphone":
            out = np.array([jellyfish.metaphone(v) or None if v else None for v in values], dtype=object)
        elif kind == "date_digits":
            out = np.array([re.sub(r"\D", "", v) if v else None for v in values], dtype=object)
        elif kind == "date_swapped":
            out = np.array([_swap_day_month(v) if v else None for v in values], dtype=object)
        elif kind == "ordinal":
            out = np.array([_to_ordinal(v) for v in values], dtype=float)
        else:
            out = np.array([_to_float(v) for v in values], dtype=float)
        prepared.cache[key] = out
    return prepared.cache[key]


def _joint_codes(left: np.ndarray, right: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes over both sides' values (-1 for missing), so equality is an integer comparison."""
    values = left if right is None else np.concatenate([left, right])
    if len(values) <= 256:  # a dictionary beats pandas' overhead on the in-flow check's few records
        seen: dict[Any, int] = {}
        codes = np.fromiter(
            (-1 if v is None else seen.setdefault(v, len(seen)) for v in values),
            dtype=np.int64,
            count=len(values),
        )
    else:
        codes, _ = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    if right is None:
        return codes, codes
    return codes[: len(left)], codes[len(left) :]


def _field_codes(
    left: Prepared, right: Prepared, name: str, kind: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Joint codes of a field (or of a derived form), cached on ``left`` when comparing a set with itself."""
    left_values = _derived(left, name, kind) if kind else left.values[name]
    if left is right:
        key = (name, f"codes:{kind}")
        if key not in left.cache:
            left.cache[key] = _joint_codes(left_values, None)[0]
        return left.cache[key], left.cache[key]
    right_values = _derived(right, name, kind) if kind else right.values[name]
    return _joint_codes(left_values, right_values)


# Up to this many pairs, compare() takes each pair in plain Python: for the in-flow check's handful of
# candidates numpy's cost per call outweighs the work. Both paths give the same levels (a test checks).
SCALAR_PAIRS = 16


def _one(prepared: Prepared, name: str, index: int, kind: str | None = None) -> Any:
    """One record's field value, or a derived form of it (as ``_derived`` computes for all records)."""
    value = prepared.values[name][index]
    if kind is None:
        return value
    return _DERIVE[kind](value)


_DERIVE: dict[str, Any] = {
    "text": lambda v: "" if v is None else v,
    "company": lambda v: company_key(v) or None if v else None,
    "company_text": lambda v: company_key(v) if v else "",
    "email_local": lambda v: v.rpartition("@")[0] or None if v else None,
    "metaphone": lambda v: jellyfish.metaphone(v) or None if v else None,
    "date_digits": lambda v: re.sub(r"\D", "", v) if v else None,
    "date_swapped": lambda v: _swap_day_month(v) if v else None,
    "ordinal": _to_ordinal,
    "float": _to_float,
}


def _compare_one(spec: FieldSpec, left: Prepared, right: Prepared, i: int, j: int) -> int:
    """The level of one pair in one field: ``_compare_field`` for a single pair, without arrays."""
    name, comparator = spec.name, spec.comparator
    base = "company" if comparator == "company" else None
    a, b = _one(left, name, i, base), _one(right, name, j, base)
    if comparator == "numeric":
        x, y = _one(left, name, i, "float"), _one(right, name, j, "float")
        if a is None or b is None or math.isnan(x) or math.isnan(y):
            return -1
        within = [x == y] + [abs(x - y) <= t for t in spec.effective_thresholds]
        return next((level for level, holds in enumerate(within) if holds), len(within))
    if a is None or b is None:
        return -1
    if a == b:
        return 0
    thresholds = spec.effective_thresholds
    text = "company_text" if base else "text"

    def same(kind: str, kind_right: str | None = None) -> bool:
        code = _one(left, name, i, kind)
        return code is not None and code == _one(right, name, j, kind_right or kind)

    def fuzzy(scorer: Any) -> float:
        return float(scorer(_one(left, name, i, text), _one(right, name, j, text)))

    conditions: list[bool] = [False]
    if comparator == "email":
        conditions.append(same("email_local"))
    elif comparator in ("string", "name", "company"):
        similarity = fuzzy(JaroWinkler.normalized_similarity)
        close = [similarity >= t for t in thresholds]
        conditions += [close[0], same("metaphone"), *close[1:]] if comparator == "name" else close
    elif comparator == "phonetic":
        conditions.append(same("metaphone"))
    elif comparator == "code":
        distance = fuzzy(OSA.distance)
        conditions += [distance <= t for t in thresholds]
    elif comparator == "date":
        x, y = _one(left, name, i, "ordinal"), _one(right, name, j, "ordinal")
        conditions += [fuzzy(OSA.distance) <= 1 or same("date_swapped", "date_digits")]
        conditions += [abs(x - y) <= t for t in thresholds]
    if spec.swap_with is not None:
        conditions.append(_swapped_one(spec, left, right, i, j))
    return next((level for level, holds in enumerate(conditions) if holds), len(conditions))


def _swapped_one(spec: FieldSpec, left: Prepared, right: Prepared, i: int, j: int) -> bool:
    """``_swapped`` for one pair."""
    name, partner = spec.name, str(spec.swap_with)
    fuzzy = spec.comparator in ("string", "name", "company")
    kind = "company_text" if spec.comparator == "company" else "text"
    cutoff = spec.effective_thresholds[0] if fuzzy else 1.0
    for a_name, b_name in ((name, partner), (partner, name)):
        a, b = _one(left, a_name, i, kind), _one(right, b_name, j, kind)
        if a == "" or b == "":
            return False
        if not (JaroWinkler.normalized_similarity(a, b) >= cutoff if fuzzy else a == b):
            return False
    return True


def _compare_field(spec: FieldSpec, left: Prepared, right: Prepared, pairs: np.ndarray) -> np.ndarray:
    i, j = pairs[:, 0], pairs[:, 1]
    name = spec.name
    base = "company" if spec.comparator == "company" else None
    codes_l, codes_r = _field_codes(left, right, name, base)
    a_codes, b_codes = codes_l[i], codes_r[j]
    missing = (a_codes < 0) | (b_codes < 0)
    exact = (a_codes == b_codes) & ~missing
    conditions: list[np.ndarray] = [exact]
    thresholds = spec.effective_thresholds
    todo = ~missing & ~exact  # only these need a fuzzy comparison

    def fuzzy(scorer: Any) -> np.ndarray:
        scores = np.zeros(len(pairs), dtype=float)
        if todo.any():
            text = "company_text" if base else "text"
            a_text = _derived(left, name, text)[i[todo]]
            b_text = _derived(right, name, text)[j[todo]]
            scores[todo] = cpdist(a_text, b_text, scorer=scorer, workers=-1 if len(a_text) > 10_000 else 1)
        return scores

    def same_code(kind: str, kind_right: str | None = None) -> np.ndarray:
        if kind_right is None:
            cl, cr = _field_codes(left, right, name, kind)
        else:
            cl, cr = _joint_codes(_derived(left, name, kind), _derived(right, name, kind_right))
        return (cl[i] == cr[j]) & (cl[i] >= 0) & todo

    if spec.comparator == "email":
        conditions.append(same_code("email_local"))
    elif spec.comparator in ("string", "name", "company"):
        similarity = fuzzy(JaroWinkler.normalized_similarity)
        close = [(similarity >= t) & todo for t in thresholds]
        if spec.comparator == "name":
            conditions += [close[0], same_code("metaphone"), *close[1:]]
        else:
            conditions += close
    elif spec.comparator == "phonetic":
        conditions.append(same_code("metaphone"))
    elif spec.comparator == "code":
        distance = fuzzy(OSA.distance)
        conditions += [(distance <= t) & todo for t in thresholds]
    elif spec.comparator == "numeric":
        x, y = _derived(left, name, "float")[i], _derived(right, name, "float")[j]
        missing |= np.isnan(x) | np.isnan(y)
        conditions = [x == y] + [np.abs(x - y) <= t for t in thresholds]
    elif spec.comparator == "date":
        typo = (fuzzy(OSA.distance) <= 1) & todo
        swapped = same_code("date_swapped", "date_digits")
        x, y = _derived(left, name, "ordinal")[i], _derived(right, name, "ordinal")[j]
        conditions += [typo | swapped] + [np.abs(x - y) <= t for t in thresholds]
    if spec.swap_with is not None:
        conditions.append(_swapped(spec, left, right, pairs, todo))
    # The first condition that holds gives the level (assigned in reverse, so earlier ones win).
    level = np.full(len(pairs), len(conditions), dtype=np.int8)
    for value in range(len(conditions) - 1, -1, -1):
        level[conditions[value]] = value
    level[missing] = -1
    return level


def _swapped(
    spec: FieldSpec, left: Prepared, right: Prepared, pairs: np.ndarray, todo: np.ndarray
) -> np.ndarray:
    """Pairs (among ``todo``) whose field and its ``swap_with`` partner agree crosswise: this field with the
    other record's partner and the partner with the other record's field, both present. Fuzzy comparators
    agree at their first (highest) similarity threshold, the others exactly."""
    i, j = pairs[:, 0], pairs[:, 1]
    name, partner = spec.name, str(spec.swap_with)
    out = np.zeros(len(pairs), dtype=bool)
    candidates = np.flatnonzero(todo)
    if not len(candidates):
        return out
    fuzzy = spec.comparator in ("string", "name", "company")
    kind = "company_text" if spec.comparator == "company" else "text"
    cutoff = spec.effective_thresholds[0] if fuzzy else 1.0
    agree = np.ones(len(candidates), dtype=bool)
    for a, b in ((name, partner), (partner, name)):
        a_text = _derived(left, a, kind)[i[candidates]]
        b_text = _derived(right, b, kind)[j[candidates]]
        present = (a_text != "") & (b_text != "")
        if fuzzy:
            scores = np.zeros(len(candidates), dtype=float)
            if present.any():
                scores[present] = cpdist(
                    a_text[present], b_text[present], scorer=JaroWinkler.normalized_similarity
                )
            agree &= present & (scores >= cutoff)
        else:
            agree &= present & (a_text == b_text)
        candidates, agree = candidates[agree], agree[agree]
        if not len(candidates):
            return out
    out[candidates] = True
    return out


def dedupe_records(
    config: MatchConfig,
    records: Sequence[Mapping[str, Any]],
    ids: Sequence[Any],
    *,
    other: Sequence[Mapping[str, Any]] | None = None,
    other_ids: Sequence[Any] | None = None,
    threshold: float | None = None,
    train: bool = False,
) -> tuple[pd.DataFrame, Matcher]:
    """Predicted duplicate pairs within ``records`` (or links from ``records`` to ``other``), with the
    matcher that scored them: the file-level runner's and the benchmark's one entry point."""
    matcher = Matcher(config)
    left = matcher.prepare(records, ids=ids)
    right = matcher.prepare(other, ids=other_ids) if other is not None else None
    if train:
        matcher = matcher.train(left, right)
    pairs = matcher.score_pairs(left, right, threshold=threshold)
    decisions = np.where(pairs["probability"] >= matcher.config.auto_merge, "merge", "review")
    return pairs.assign(decision=decisions), matcher
