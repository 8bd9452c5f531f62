"""A small PromQL evaluator for the subset deploy/alerts.yml uses, over real /metrics scrapes.

No Prometheus is available here, so the alert test evaluates each rule itself: instant selectors
with label matchers, ``rate(sel[range])`` between two scrapes, ``sum``/``min``/``max`` with an
optional ``by (…)``, ``histogram_quantile``, arithmetic and comparisons (vector–scalar filters and
vector–vector on equal label sets), numbers and parentheses. ``rate`` is the plain difference over
the two scrape times: Prometheus extrapolates to the window's edges, which changes the value a
little but never which side of a threshold a clear test case lands on. Anything outside the subset
raises, so a rule that needs more fails the test instead of passing unexamined.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]
Vector = dict[Labels, float]
Value = Vector | float


class PromQLError(ValueError):
    """An expression outside the supported subset, or a malformed one."""


@dataclass(frozen=True)
class Scrape:
    at_s: float
    samples: dict[str, Vector]  # metric name -> labels -> value

    @classmethod
    def parse(cls, text: str, at_s: float) -> Scrape:
        samples: dict[str, Vector] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples.setdefault(s.name, {})[frozenset(s.labels.items())] = float(s.value)
        return cls(at_s, samples)


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?)|(?P<range>\[\d+[smhd]\])|(?P<str>\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<op>==|!=|>=|<=|=~|!~|[-+*/><(){},=])|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*))"
)
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else (math.nan if a == 0 else math.copysign(math.inf, a)),
}
_PRECEDENCE = {**{op: 1 for op in _COMPARE}, "+": 2, "-": 2, "*": 3, "/": 3}
_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "sum": lambda vs: float(sum(vs)),
    "min": lambda vs: min(vs),
    "max": lambda vs: max(vs),
}


def _tokens(expr: str) -> list[str]:
    out, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None or m.end() == pos:
            raise PromQLError(f"can't read {expr[pos:pos + 20]!r}")
        out.append(m.group(m.lastgroup or ""))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, expr: str, now: Scrape, before: Scrape | None) -> None:
        self.toks = _tokens(expr)
        self.i = 0
        self.now = now
        self.before = before

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise PromQLError(f"expected {expected or 'more'}, got {tok!r}")
        self.i += 1
        return tok

    def parse(self) -> Value:
        value = self.binary(0)
        if self.peek() is not None:
            raise PromQLError(f"unexpected {self.peek()!r}")
        return value

    def binary(self, min_prec: int) -> Value:
        left = self.primary()
        while (op := self.peek()) in _PRECEDENCE and _PRECEDENCE[op] > min_prec:
            self.take()
            right = self.binary(_PRECEDENCE[op])
            left = _apply(op, left, right)
        return left

    def primary(self) -> Value:
        tok = self.take()
        if tok == "(":
            value = self.binary(0)
            self.take(")")
            return value
        if re.fullmatch(r"\d.*", tok):
            return float(tok)
        if tok in _AGGREGATES:
            by: list[str] | None = None
            if self.peek() == "by":
                self.take()
                by = self.names()
            self.take("(")
            inner = self.binary(0)
            self.take(")")
            if not isinstance(inner, dict):
                raise PromQLError(f"{tok}() of a scalar")
            return _aggregate(_AGGREGATES[tok], inner, by or [])
        if tok == "rate":
            self.take("(")
            name, matchers = self.selector(self.take())
            window = self.take()
            if not window.startswith("["):
                raise PromQLError("rate() needs a range selector")
            self.take(")")
            return self.rate(name, matchers)
        if tok == "histogram_quantile":
            self.take("(")
            q = self.binary(0)
            self.take(",")
            buckets = self.binary(0)
            self.take(")")
            if not isinstance(q, float) or not isinstance(buckets, dict):
                raise PromQLError("histogram_quantile(scalar, vector)")
            return _histogram_quantile(q, buckets)
        if re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", tok):
            name, matchers = self.selector(tok)
            return _select(self.now.samples.get(name, {}), matchers)
        raise PromQLError(f"unsupported {tok!r}")

    def names(self) -> list[str]:
        self.take("(")
        names = []
        while self.peek() != ")":
            names.append(self.take())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return names

    def selector(self, name: str) -> tuple[str, list[tuple[str, str, str]]]:
        matchers: list[tuple[str, str, str]] = []
        if self.peek() == "{":
            self.take()
            while self.peek() != "}":
                label, op, raw = self.take(), self.take(), self.take()
                if op not in ("=", "!=", "=~", "!~") or not raw.startswith('"'):
                    raise PromQLError(f"bad matcher {label}{op}{raw}")
                matchers.append((label, op, raw[1:-1].encode().decode("unicode_escape")))
                if self.peek() == ",":
                    self.take()
            self.take("}")
        return name, matchers

    def rate(self, name: str, matchers: list[tuple[str, str, str]]) -> Vector:
        if self.before is None:
            raise PromQLError("rate() needs two scrapes")
        span = self.now.at_s - self.before.at_s
        if span <= 0:
            raise PromQLError("scrapes must be in time order")
        then = _select(self.before.samples.get(name, {}), matchers)
        now = _select(self.now.samples.get(name, {}), matchers)
        out: Vector = {}
        for labels, value in now.items():
            if labels in then:
                delta = value - then[labels] if value >= then[labels] else value  # counter reset
                out[labels] = delta / span
        return out


def _select(series: Vector, matchers: list[tuple[str, str, str]]) -> Vector:
    def ok(labels: Labels) -> bool:
        d = dict(labels)
        for label, op, want in matchers:
            have = d.get(label, "")
            if op == "=" and have != want or op == "!=" and have == want:
                return False
            if op == "=~" and not re.fullmatch(want, have) or op == "!~" and re.fullmatch(want, have):
                return False
        return True

    return {labels: v for labels, v in series.items() if ok(labels)}


def _aggregate(fn: Callable[[list[float]], float], vec: Vector, by: list[str]) -> Vector:
    groups: dict[Labels, list[float]] = {}
    for labels, v in vec.items():
        key = frozenset((k, val) for k, val in labels if k in by)
        groups.setdefault(key, []).append(v)
    return {k: float(fn(vs)) for k, vs in groups.items()}


def _apply(op: str, left: Value, right: Value) -> Value:
    if op in _COMPARE:
        test = _COMPARE[op]
        if isinstance(left, dict) and isinstance(right, float):
            return {k: v for k, v in left.items() if test(v, right)}
        if isinstance(left, float) and isinstance(right, dict):
            return {k: v for k, v in right.items() if test(left, v)}
        if isinstance(left, dict) and isinstance(right, dict):
            return {k: v for k, v in left.items() if k in right and test(v, right[k])}
        assert isinstance(left, float) and isinstance(right, float)
        return 1.0 if test(left, right) else 0.0
    fn = _ARITH[op]
    if isinstance(left, dict) and isinstance(right, dict):
        return {k: fn(v, right[k]) for k, v in left.items() if k in right}
    if isinstance(left, dict) and isinstance(right, float):
        return {k: fn(v, right) for k, v in left.items()}
    if isinstance(left, float) and isinstance(right, dict):
        return {k: fn(left, v) for k, v in right.items()}
    assert isinstance(left, float) and isinstance(right, float)
    return fn(left, right)


def _histogram_quantile(q: float, buckets: Vector) -> Vector:
    """Prometheus's interpolation: find the bucket holding rank q·count, interpolate linearly."""
    groups: dict[Labels, list[tuple[float, float]]] = {}
    for labels, count in buckets.items():
        d = dict(labels)
        if "le" not in d:
            raise PromQLError("histogram_quantile needs le labels")
        key = frozenset((k, v) for k, v in labels if k != "le")
        groups.setdefault(key, []).append((float(d["le"]), count))
    out: Vector = {}
    for key, pairs in groups.items():
        pairs.sort()
        total = pairs[-1][1]
        if not math.isinf(pairs[-1][0]) or total == 0:
            out[key] = math.nan
            continue
        rank = q * total
        prev_le, prev_count = 0.0, 0.0
        for le, count in pairs:
            if count >= rank:
                if math.isinf(le):
                    out[key] = prev_le
                else:
                    width = count - prev_count
                    out[key] = prev_le + (le - prev_le) * ((rank - prev_count) / width if width else 1.0)
                break
            prev_le, prev_count = le, count
    return out


def evaluate(expr: str, now: Scrape, before: Scrape | None = None) -> Value:
    """The value of ``expr`` at scrape ``now`` (``before``: the earlier scrape ``rate`` needs)."""
    return _Parser(" ".join(expr.split()), now, before).parse()


def firing(expr: str, now: Scrape, before: Scrape | None = None) -> list[dict[str, str]]:
    """The label sets an alert with ``expr`` would fire for (an empty list: quiet)."""
    value = evaluate(expr, now, before)
    if not isinstance(value, dict):
        raise PromQLError("an alert expression must give a vector")
    return [dict(labels) for labels, v in value.items() if not math.isnan(v)]
