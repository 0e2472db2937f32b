"""The SOQL subset of the Salesforce sandbox: parse with lark, compile to closures, run, render.

A query is parsed once (LALR, the parse tree is cached by text), checked against the org's
metadata, and compiled into plain Python closures: field names, relationship paths and literals
are resolved at compile time, so running a query over 100,000 records costs one predicate call
per record and one precomputed key per sort key. Errors carry Salesforce's error codes and the
text of its messages, including the "ERROR at Row:r:Column:c" block, because clients (and our
own connectors) show and sometimes parse them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .salesforce_model import (
    BOOLEAN,
    CURRENCY,
    DATE,
    DATETIME,
    DOUBLE,
    ID,
    PERCENT,
    REFERENCE,
    TEXTAREA,
    SalesforceData,
    SField,
    SObjectType,
    sf_value,
    to_18,
)

__all__ = ["MAX_OFFSET", "REJECT_MIXED_AND_OR", "SoqlError", "SoqlQuery", "compile_soql"]

MAX_OFFSET = 2000
# Salesforce answers "unexpected token: 'OR'" when AND and OR are mixed at one level without
# parentheses, and so does the sandbox, so a query that passes here passes against a real org.
# Cleared, the sandbox applies precedence instead (NOT, then AND, then OR).
REJECT_MIXED_AND_OR = True

Record = dict[str, Any]
Getter = Callable[[Record], Any]
Pred = Callable[[Record], bool]
Hit = tuple[SObjectType, Record]
Step = Callable[[Record], "Hit | None"]

_PARSER = Lark(
    Path(__file__).with_name("soql.lark").read_text(encoding="utf-8"),
    parser="lalr",
    lexer="basic",
    maybe_placeholders=False,
)

_NO_COLUMN = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure "
    "to append the '__c' after the custom field name. Please reference your WSDL or the describe call "
    "for the appropriate names."
)
_NO_RELATION = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to use a custom "
    "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
    "your WSDL or the describe call for the appropriate names."
)
_NO_TYPE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
    "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)

# Value categories: how a field's values compare and which literals they accept.
_TEXT, _IDS, _NUM, _BOOL, _DATE, _DATETIME = "text", "id", "number", "boolean", "date", "datetime"
_CATEGORY = {
    ID: _IDS,
    REFERENCE: _IDS,
    CURRENCY: _NUM,
    DOUBLE: _NUM,
    PERCENT: _NUM,
    "int": _NUM,
    BOOLEAN: _BOOL,
    DATE: _DATE,
    DATETIME: _DATETIME,
}
# The type name Salesforce puts in "must be of type X" messages.
_TYPE_WORD = {
    _TEXT: "string",
    _IDS: "id",
    _NUM: "double",
    _BOOL: "boolean",
    _DATE: "date",
    _DATETIME: "dateTime",
}
# Literal kinds each category accepts (besides null).
_ACCEPTS = {
    _TEXT: {"string"},
    _IDS: {"string"},
    _NUM: {"number"},
    _BOOL: {"true", "false"},
    _DATE: {"date", "date_word"},
    _DATETIME: {"datetime", "date_word"},
}
_ID_RE = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")
_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):?(\d{2}))", re.I
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


class SoqlError(ValueError):
    """A query Salesforce would refuse; error_code and message go into the REST error body as-is."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


# --------------------------------------------------------------------------------------------- errors


def _row_col(text: str, offset: int) -> tuple[int, int]:
    """1-based row and column of a character offset."""
    row = text.count("\n", 0, offset) + 1
    return row, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _located(text: str, row: int, column: int, detail: str) -> str:
    """Salesforce's message shape: the query line, a caret under the column, then the detail."""
    lines = text.split("\n")
    line = lines[row - 1].rstrip("\r") if 0 < row <= len(lines) else ""
    return f"\n{line}\n{' ' * max(column - 1, 0)}^\nERROR at Row:{row}:Column:{column}\n{detail}"


def _error_at(code: str, text: str, tok: Token, detail: str) -> SoqlError:
    """A semantic error, pointing at the first character of the offending token."""
    row, col = _row_col(text, tok.start_pos or 0)
    return SoqlError(code, _located(text, row, col, detail))


def _unexpected(text: str, offset: int, shown: str) -> SoqlError:
    """A syntax error. Salesforce reports these one column left of the token (at the gap before it)."""
    row, col = _row_col(text, offset)
    return SoqlError("MALFORMED_QUERY", _located(text, row, max(col - 1, 1), f"unexpected token: '{shown}'"))


def _unexpected_token(text: str, tok: Token) -> SoqlError:
    return _unexpected(text, tok.start_pos or 0, str(tok))


@lru_cache(maxsize=512)
def _parse(text: str) -> Tree:
    """Parse tree of a query; cached because clients repeat the same query text (paging, polling)."""
    try:
        return _PARSER.parse(text)
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            return _raise(_unexpected(text, len(text.rstrip()), "<EOF>"))
        return _raise(_unexpected_token(text, tok))
    except UnexpectedCharacters as exc:
        at = exc.pos_in_stream or 0
        return _raise(_unexpected(text, at, text[at]))
    except UnexpectedInput as exc:  # pragma: no cover - LALR raises the two above
        return _raise(_unexpected(text, getattr(exc, "pos_in_stream", 0) or 0, "<EOF>"))


def _raise(error: SoqlError) -> Tree:
    """Raise outside the except block so the lark exception is not chained into ours."""
    raise error


# ------------------------------------------------------------------------------------------ resolution


@dataclass(frozen=True)
class _Hop:
    """One step up a parent relationship: read ref_field, find the parent among targets."""

    rel: str  # canonical relationship name, the key of the nested object ("Owner")
    ref_field: str  # canonical reference field on the child ("OwnerId")
    targets: tuple[SObjectType, ...]


@dataclass(frozen=True)
class _Path:
    """A resolved field path: relationship hops, then a field on the last parent type."""

    hops: tuple[_Hop, ...]
    field: SField
    names: dict[str, str]  # parent type name -> canonical field name (one entry unless polymorphic)
    token: Token

    @property
    def key(self) -> tuple[str, ...]:
        return (*(h.rel.lower() for h in self.hops), self.field.name.lower())

    @property
    def category(self) -> str:
        return _CATEGORY.get(self.field.type, _TEXT)


def _resolve(text: str, sobject: SObjectType, node: Tree, data: SalesforceData) -> _Path:
    """Resolve `Owner.Email`-style paths against metadata, with Salesforce's INVALID_FIELD messages."""
    names: list[Token] = list(node.children)  # type: ignore[arg-type]
    first = names[0]
    if len(names) > 1 and sobject.relationship(names[0]) is None and names[0].lower() == sobject.name.lower():
        names = names[1:]  # SELECT Opportunity.Name FROM Opportunity
    types: tuple[SObjectType, ...] = (sobject,)
    hops: list[_Hop] = []
    for part in names[:-1]:
        ref = types[0].relationship(part) if len(types) == 1 else None
        if ref is None or not ref.reference_to:
            raise _error_at("INVALID_FIELD", text, first, _NO_RELATION.format(name=part))
        targets = tuple(t for t in map(data.sobject, ref.reference_to) if t is not None)
        hops.append(_Hop(ref.relationship_name or part, ref.name, targets))
        types = targets
    last = names[-1]
    found = {t.name: f for t in types if (f := t.field(last)) is not None}
    if not found:
        entity = types[0].name if types else sobject.name
        raise _error_at("INVALID_FIELD", text, first, _NO_COLUMN.format(name=last, entity=entity))
    sfield = next(iter(found.values()))
    return _Path(tuple(hops), sfield, {t: f.name for t, f in found.items()}, first)


# ------------------------------------------------------------------------------------------- literals


@dataclass(frozen=True)
class _Lit:
    """A checked literal: null, a scalar (normalised for comparison) or a half-open range."""

    kind: str  # "null" | "scalar" | "range"
    value: Any = None
    low: Any = None
    high: Any = None


def _decode(raw: str, text: str, tok: Token, *, like: bool) -> str:
    """Undo SOQL string escapes; in LIKE patterns keep \\% and \\_ escaped for the matcher."""
    body = raw[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _ESCAPES:
            out.append(("\\" + nxt) if like and nxt == "\\" else _ESCAPES[nxt])
        elif nxt in "%_":
            out.append("\\" + nxt)
        else:
            detail = f"Invalid string literal '{body}'. Illegal character sequence '\\{nxt}' in string literal."
            raise _error_at("MALFORMED_QUERY", text, tok, detail)
        i += 2
    return "".join(out)


def _parse_datetime(raw: str) -> datetime | None:
    m = _DATETIME_RE.fullmatch(raw)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, zulu, sign, oh, om = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if not zulu:
        delta = timedelta(hours=int(oh), minutes=int(om))
        tz = timezone(delta if sign == "+" else -delta)
    try:
        value = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=tz)
    except ValueError:
        return None
    return value.astimezone(timezone.utc)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _date_range(word: str, n: int | None, today: date) -> tuple[date, date] | None:
    """Salesforce date literals as half-open [start, end) day ranges; None if unknown."""
    day = timedelta(days=1)
    week = today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday (en_US)
    month = today.replace(day=1)
    year = date(today.year, 1, 1)
    fixed = {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "THIS_WEEK": (week, week + 7 * day),
        "LAST_WEEK": (week - 7 * day, week),
        "NEXT_WEEK": (week + 7 * day, week + 14 * day),
        "THIS_MONTH": (month, _add_months(month, 1)),
        "LAST_MONTH": (_add_months(month, -1), month),
        "NEXT_MONTH": (_add_months(month, 1), _add_months(month, 2)),
        "THIS_YEAR": (year, date(today.year + 1, 1, 1)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), year),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
    }
    if n is None:
        return fixed.get(word)
    ranged = {
        # "starts 00:00:00 of the current day and continues for the past n days" (today included)
        "LAST_N_DAYS": (today - n * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        "N_DAYS_AGO": (today - n * day, today - (n - 1) * day),
        "LAST_N_WEEKS": (week - 7 * n * day, week),
        "NEXT_N_WEEKS": (week + 7 * day, week + 7 * (n + 1) * day),
        "LAST_N_MONTHS": (_add_months(month, -n), month),
        "NEXT_N_MONTHS": (_add_months(month, 1), _add_months(month, n + 1)),
    }
    return ranged.get(word)


# ------------------------------------------------------------------------------------------ predicates


def _and(preds: list[Pred]) -> Pred:
    if len(preds) == 2:
        a, b = preds
        return lambda r: a(r) and b(r)

    def pred(r: Record) -> bool:
        return all(p(r) for p in preds)

    return pred


def _or(preds: list[Pred]) -> Pred:
    if len(preds) == 2:
        a, b = preds
        return lambda r: a(r) or b(r)

    def pred(r: Record) -> bool:
        return any(p(r) for p in preds)

    return pred


def _not(p: Pred) -> Pred:
    return lambda r: not p(r)


def _compare(get: Getter, category: str, op: str, lit: _Lit) -> Pred:
    """One comparison as a closure, with SOQL's null rules: != and NOT IN also match null values."""
    if lit.kind == "null":
        if op == "=":
            return lambda r: get(r) is None
        if op in ("!=", "<>"):
            return lambda r: get(r) is not None
        return lambda r: False
    if lit.kind == "range":
        lo, hi = lit.low, lit.high

        def inside(r: Record) -> bool:
            v = get(r)
            return v is not None and lo <= v < hi

        bounds: dict[str, Pred] = {
            "=": inside,
            "!=": _not(inside),
            "<>": _not(inside),
            "<": lambda r: (v := get(r)) is not None and v < lo,
            "<=": lambda r: (v := get(r)) is not None and v < hi,
            ">": lambda r: (v := get(r)) is not None and v >= hi,
            ">=": lambda r: (v := get(r)) is not None and v >= lo,
        }
        return bounds[op]
    c = lit.value
    if category == _TEXT:
        # SOQL text comparison is case-insensitive; the literal is lowered once, values per record.
        def eq(r: Record) -> bool:
            v = get(r)
            return v is not None and v.lower() == c

        text_ops: dict[str, Pred] = {
            "=": eq,
            "!=": _not(eq),
            "<>": _not(eq),
            "<": lambda r: (v := get(r)) is not None and v.lower() < c,
            "<=": lambda r: (v := get(r)) is not None and v.lower() <= c,
            ">": lambda r: (v := get(r)) is not None and v.lower() > c,
            ">=": lambda r: (v := get(r)) is not None and v.lower() >= c,
        }
        return text_ops[op]
    plain: dict[str, Pred] = {
        "=": lambda r: get(r) == c,
        "!=": lambda r: get(r) != c,
        "<>": lambda r: get(r) != c,
        "<": lambda r: (v := get(r)) is not None and v < c,
        "<=": lambda r: (v := get(r)) is not None and v <= c,
        ">": lambda r: (v := get(r)) is not None and v > c,
        ">=": lambda r: (v := get(r)) is not None and v >= c,
    }
    return plain[op]


def _member(get: Getter, category: str, lits: list[_Lit]) -> Pred:
    """IN (...): a set lookup for scalars, plus null and date-literal ranges when present."""
    values = frozenset(lit.value for lit in lits if lit.kind == "scalar")
    has_null = any(lit.kind == "null" for lit in lits)
    ranges = tuple((lit.low, lit.high) for lit in lits if lit.kind == "range")
    lower = category == _TEXT

    def pred(r: Record) -> bool:
        v = get(r)
        if v is None:
            return has_null
        if (v.lower() if lower else v) in values:
            return True
        return any(lo <= v < hi for lo, hi in ranges)

    return pred


def _like_matcher(pattern: str) -> Callable[[str], Any]:
    """LIKE pattern (escapes already decoded, \\% and \\_ kept) to a case-insensitive full match."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL).fullmatch


# ------------------------------------------------------------------------------------------- the query


@dataclass
class _OrderKey:
    path: _Path
    desc: bool
    nulls_first: bool


@dataclass
class _Plan:
    """Closures bound to one SalesforceData (the one given to compile_soql, or another at run())."""

    pred: Pred | None
    sort_passes: list[Callable[[list[Record]], list[Record]]]
    render: Callable[[Record, str], dict[str, Any]]


@dataclass(eq=False)
class SoqlQuery:
    """A compiled query: run() filters, orders and pages records; render() shapes one for JSON."""

    sobject: SObjectType
    count_only: bool
    select: list[_Path] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    _where: Tree | None = field(default=None, repr=False)
    _order: list[_OrderKey] = field(default_factory=list, repr=False)
    _compiler: _Compiler | None = field(default=None, repr=False)
    _data: SalesforceData | None = field(default=None, repr=False)  # render() resolves parents here
    _plan: _Plan | None = field(default=None, repr=False)

    def run(self, data: SalesforceData, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Matching stored records (the dicts themselves), filtered, ordered, OFFSET/LIMIT applied."""
        plan = self._plan_for(data)
        rows: list[Record] = list(data.records.get(self.sobject.name, {}).values())
        if include_deleted:
            rows.extend(data.deleted.get(self.sobject.name, {}).values())
        if plan.pred is not None:
            rows = list(filter(plan.pred, rows))
        for sort_pass in reversed(plan.sort_passes):  # stable sorts, least significant key first
            rows = sort_pass(rows)
        end = None if self.limit is None else self.offset + self.limit
        return rows[self.offset : end] if self.offset or end is not None else rows

    def render(self, record: dict[str, Any], api_version: str) -> dict[str, Any]:
        """The record as the REST API returns it: attributes, then selected fields in SELECT order."""
        assert self._data is not None
        return self._plan_for(self._data).render(record, _url_prefix(api_version))

    def _plan_for(self, data: SalesforceData) -> _Plan:
        if self._plan is not None and data is self._data:
            return self._plan
        assert self._compiler is not None
        plan = self._compiler.plan(self, data)
        if data is self._data:
            self._plan = plan
        return plan


@lru_cache(maxsize=16)
def _url_prefix(api_version: str) -> str:
    return f"/services/data/v{api_version.lstrip('vV')}/sobjects/"


def _hop_step(hop: _Hop, data: SalesforceData) -> Step:
    """Child record -> (parent type, parent record) or None, looked up in the live data."""
    ref = hop.ref_field
    if len(hop.targets) == 1:
        target = hop.targets[0]
        tname = target.name
        records = data.records

        def step(r: Record) -> Hit | None:
            rid = r.get(ref)
            if rid is None:
                return None
            rows = records.get(tname)
            parent = rows.get(rid) if rows is not None else None
            if parent is not None:
                return target, parent
            hit = data.get(rid)  # 15-character ids
            return hit if hit is not None and hit[0] is target else None

        return step
    allowed = {t.name for t in hop.targets}

    def poly(r: Record) -> Hit | None:
        rid = r.get(ref)
        if rid is None:
            return None
        hit = data.get(rid)
        return hit if hit is not None and hit[0].name in allowed else None

    return poly


def _chain(steps: list[Step]) -> Step:
    if len(steps) == 1:
        return steps[0]

    def walk(r: Record) -> Hit | None:
        hit: Hit | None = None
        for step in steps:
            hit = step(r)
            if hit is None:
                return None
            r = hit[1]
        return hit

    return walk


def _getter(path: _Path, data: SalesforceData) -> Getter:
    if not path.hops:
        name = path.field.name
        return lambda r: r.get(name)
    parent = _chain([_hop_step(h, data) for h in path.hops])
    names = path.names
    if len(names) == 1:
        only = next(iter(names.values()))

        def one(r: Record) -> Any:
            hit = parent(r)
            return None if hit is None else hit[1].get(only)

        return one

    def poly(r: Record) -> Any:
        hit = parent(r)
        if hit is None:
            return None
        name = names.get(hit[0].name)
        return None if name is None else hit[1].get(name)

    return poly


@dataclass
class _Node:
    """Render tree: fields and nested parent objects of one level, in first-selected order."""

    items: list[tuple[str, Any]] = field(default_factory=list)  # ("field", _Path) | ("rel", (hop, _Node))
    rels: dict[str, _Node] = field(default_factory=dict)


_Emit = Callable[[Record, SObjectType, dict[str, Any], str], None]


def _emitters(node: _Node, depth: int, data: SalesforceData) -> list[_Emit]:
    emits: list[_Emit] = []
    for kind, item in node.items:
        if kind == "field":
            emits.append(_field_emit(item, depth))
        else:
            hop, child = item
            emits.append(_rel_emit(hop, _emitters(child, depth + 1, data), data))
    return emits


def _field_emit(path: _Path, depth: int) -> _Emit:
    names = path.names
    key = path.field.name
    convert = path.field.type in (DATE, DATETIME)
    if depth == 0 or len(names) == 1:
        name = next(iter(names.values())) if depth else key

        def emit(r: Record, _t: SObjectType, out: dict[str, Any], _p: str) -> None:
            v = r.get(name)
            out[key] = sf_value(v) if convert and v is not None else v

        return emit

    def poly(r: Record, t: SObjectType, out: dict[str, Any], _p: str) -> None:
        name = names.get(t.name)
        v = None if name is None else r.get(name)
        out[key] = sf_value(v) if convert and v is not None else v

    return poly


def _rel_emit(hop: _Hop, children: list[_Emit], data: SalesforceData) -> _Emit:
    step = _hop_step(hop, data)
    rel = hop.rel

    def emit(r: Record, _t: SObjectType, out: dict[str, Any], prefix: str) -> None:
        hit = step(r)
        out[rel] = None if hit is None else _render(hit[1], hit[0], children, prefix)

    return emit


def _render(r: Record, t: SObjectType, emits: list[_Emit], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": {"type": t.name, "url": f"{prefix}{t.name}/{r.get('Id')}"}}
    for emit in emits:
        emit(r, t, out, prefix)
    return out


class _Compiler:
    """Turns a parse tree into a SoqlQuery; the where/order closures are built per data in plan()."""

    def __init__(self, text: str, data: SalesforceData, now: datetime) -> None:
        self.text = text
        self.data = data
        now = now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
        self.today = now.astimezone(timezone.utc).date()

    # ---- compile time: validate everything, resolve names and literals

    def compile(self, tree: Tree) -> SoqlQuery:
        select_list, obj, *clauses = tree.children
        assert isinstance(select_list, Tree) and isinstance(obj, Token)
        sobject = self.data.sobject(str(obj))
        if sobject is None:
            raise _error_at("INVALID_TYPE", self.text, obj, _NO_TYPE.format(name=obj))
        self.sobject = sobject
        query = SoqlQuery(sobject=sobject, count_only=False, _compiler=self, _data=self.data)
        self._select(query, select_list)
        self._lits: dict[int, Any] = {}
        for clause in clauses:
            assert isinstance(clause, Tree)
            if clause.data == "where_clause":
                if REJECT_MIXED_AND_OR:
                    self._check_mixed(clause.children[0])
                query._where = clause.children[0]
                self._check_where(query._where)
            elif clause.data == "order_clause":
                query._order = [self._order_key(k) for k in clause.children]
            elif clause.data == "limit_clause":
                query.limit = self._count(clause.children[1])  # type: ignore[arg-type]
            elif clause.data == "offset_clause":
                tok: Token = clause.children[1]  # type: ignore[assignment]
                query.offset = self._count(tok)
                if query.offset > MAX_OFFSET:
                    raise _error_at(
                        "NUMBER_OUTSIDE_VALID_RANGE",
                        self.text,
                        tok,
                        f"Maximum SOQL offset allowed is {MAX_OFFSET}",
                    )
        return query

    def _select(self, query: SoqlQuery, select_list: Tree) -> None:
        items = select_list.children
        seen: set[tuple[str, ...]] = set()
        for item in items:
            assert isinstance(item, Tree)
            if item.data == "count":
                if len(items) > 1:
                    tok: Token = item.children[0]  # type: ignore[assignment]
                    raise _error_at("MALFORMED_QUERY", self.text, tok, "COUNT() cannot be selected with other fields")
                query.count_only = True
                continue
            path = _resolve(self.text, self.sobject, item, self.data)
            if path.key in seen:
                raise _error_at("INVALID_FIELD", self.text, path.token, f"duplicate field selected: {path.field.name}")
            seen.add(path.key)
            query.select.append(path)

    def _count(self, tok: Token) -> int:
        if not re.fullmatch(r"\+?\d+", tok):
            raise _unexpected_token(self.text, tok)
        return int(tok)

    def _filter_path(self, node: Tree) -> _Path:
        path = _resolve(self.text, self.sobject, node, self.data)
        if path.field.type == TEXTAREA and path.field.length > 255:
            detail = f"field '{path.field.name}' can not be filtered in a query call"
            raise _error_at("INVALID_FIELD", self.text, path.token, detail)
        return path

    def _check_where(self, node: Tree) -> None:
        """Resolve every condition now so errors surface at compile time, in source order."""
        kind = node.data
        if kind in ("or_expr", "and_expr"):
            for child in node.children:
                if isinstance(child, Tree):
                    self._check_where(child)
        elif kind in ("negation", "group"):
            self._check_where(node.children[-1])
        else:
            self._condition(node)

    def _condition(self, node: Tree) -> tuple[_Path, Any]:
        """(path, compiled operands) of one condition, cached by node identity."""
        cached = self._lits.get(id(node))
        if cached is not None:
            return cached
        path = self._filter_path(node.children[0])
        category = path.category
        operands: Any
        if node.data == "compare":
            op = str(node.children[1])
            if category == _BOOL and op not in ("=", "!=", "<>"):
                raise self._bad_operator(node.children[1], path)  # type: ignore[arg-type]
            operands = (op, self._literal(node.children[2], path))
        elif node.data == "like":
            if category != _TEXT:
                raise self._bad_operator(node.children[1], path)  # type: ignore[arg-type]
            lit: Tree = node.children[2]
            if lit.data != "string":
                raise self._type_error(lit, path)
            tok: Token = lit.children[0]  # type: ignore[assignment]
            operands = _like_matcher(_decode(tok, self.text, tok, like=True))
        else:
            values: Tree = node.children[-1]
            operands = [self._literal(v, path) for v in values.children]
        result = (path, operands)
        self._lits[id(node)] = result
        return result

    def _bad_operator(self, tok: Token, path: _Path) -> SoqlError:
        word = {_IDS: path.field.type}.get(path.category, _TYPE_WORD[path.category])
        return _error_at("INVALID_QUERY_FILTER_OPERATOR", self.text, tok, f"invalid operator on {word} field")

    def _type_error(self, lit: Tree, path: _Path) -> SoqlError:
        category = path.category
        quoted = category in (_TEXT, _IDS)
        detail = (
            f"value of filter criterion for field '{path.field.name}' must be of type "
            f"{_TYPE_WORD[category]} and should {'' if quoted else 'not '}be enclosed in quotes"
        )
        return _error_at("INVALID_FIELD", self.text, _first_token(lit), detail)

    def _literal(self, lit: Tree, path: _Path) -> _Lit:
        """Check a literal against the field's type and normalise it for comparison."""
        kind = lit.data
        tok = _first_token(lit)
        if kind == "null":
            return _Lit("null")
        category = path.category
        if kind not in _ACCEPTS[category]:
            raise self._type_error(lit, path)
        raw = str(tok)
        if kind == "string":
            value = _decode(raw, self.text, tok, like=False)
            if category == _TEXT:
                return _Lit("scalar", value.lower())
            if value == "":
                return _Lit("null")
            if not _ID_RE.fullmatch(value):
                raise _error_at("INVALID_QUERY_FILTER_OPERATOR", self.text, tok, f"invalid ID field: {value}")
            return _Lit("scalar", to_18(value))
        if kind == "number":
            number = float(raw)
            return _Lit("scalar", int(number) if number.is_integer() and "." not in raw else number)
        if kind in ("true", "false"):
            return _Lit("scalar", kind == "true")
        if kind == "date":
            try:
                return _Lit("scalar", date.fromisoformat(raw))
            except ValueError:
                raise _unexpected_token(self.text, tok) from None
        if kind == "datetime":
            moment = _parse_datetime(raw)
            if moment is None:
                raise _unexpected_token(self.text, tok)
            return _Lit("scalar", moment)
        # date_word: TODAY, LAST_N_DAYS:n, ...
        n: int | None = None
        if len(lit.children) > 1:
            num = str(lit.children[1])
            if not num.isdigit():
                raise _unexpected_token(self.text, lit.children[1])  # type: ignore[arg-type]
            n = int(num)
        span = _date_range(raw.upper(), n, self.today)
        if span is None:
            raise _unexpected_token(self.text, tok)
        if category == _DATE:
            return _Lit("range", low=span[0], high=span[1])
        low, high = (datetime.combine(d, time(0), tzinfo=timezone.utc) for d in span)
        return _Lit("range", low=low, high=high)

    def _order_key(self, node: Tree) -> _OrderKey:
        path = _resolve(self.text, self.sobject, node.children[0], self.data)
        if path.field.type == TEXTAREA and path.field.length > 255:
            detail = f"field '{path.field.name}' can not be sorted in a query call"
            raise _error_at("INVALID_FIELD", self.text, path.token, detail)
        words = [t.type for t in node.children[1:] if isinstance(t, Token)]
        desc = "DESC" in words
        nulls_first = "FIRST" in words or ("LAST" not in words and not desc)
        return _OrderKey(path, desc, nulls_first)

    def _check_mixed(self, node: Tree) -> None:
        """Salesforce's rule: one operator kind per parenthesis level; report the first other one."""
        ops: list[Token] = []

        def collect(n: Tree) -> None:
            if n.data in ("or_expr", "and_expr"):
                for child in n.children:
                    if isinstance(child, Token):
                        ops.append(child)
                    else:
                        collect(child)
            elif n.data == "group":
                self._check_mixed(n.children[0])
            elif n.data == "negation":
                collect(n.children[-1])

        collect(node)
        ops.sort(key=lambda t: t.start_pos or 0)
        for tok in ops:
            if tok.type != ops[0].type:
                raise _unexpected_token(self.text, tok)

    # ---- plan time: closures bound to one data

    def plan(self, query: SoqlQuery, data: SalesforceData) -> _Plan:
        pred = None if query._where is None else self._pred(query._where, data)
        passes = [self._sort_pass(k, data) for k in query._order]
        root = _Node()
        for path in query.select:
            node = root
            for hop in path.hops:
                child = node.rels.get(hop.rel.lower())
                if child is None:
                    child = node.rels[hop.rel.lower()] = _Node()
                    node.items.append(("rel", (hop, child)))
                node = child
            node.items.append(("field", path))
        emits = _emitters(root, 0, data)
        sobject = query.sobject

        def render(record: Record, prefix: str) -> dict[str, Any]:
            return _render(record, sobject, emits, prefix)

        return _Plan(pred, passes, render)

    def _pred(self, node: Tree, data: SalesforceData) -> Pred:
        kind = node.data
        if kind == "or_expr":
            return _or([self._pred(c, data) for c in node.children if isinstance(c, Tree)])
        if kind == "and_expr":
            return _and([self._pred(c, data) for c in node.children if isinstance(c, Tree)])
        if kind == "negation":
            return _not(self._pred(node.children[-1], data))
        if kind == "group":
            return self._pred(node.children[0], data)
        path, operands = self._condition(node)
        get = _getter(path, data)
        if kind == "compare":
            op, lit = operands
            return _compare(get, path.category, op, lit)
        if kind == "like":
            match = operands
            return lambda r: (v := get(r)) is not None and match(v) is not None
        member = _member(get, path.category, operands)
        return member if kind == "in_list" else _not(member)

    def _sort_pass(self, key: _OrderKey, data: SalesforceData) -> Callable[[list[Record]], list[Record]]:
        """One stable sort by one key. Nulls are set aside and put in front or behind, so the sort
        itself compares bare values (much faster than (flag, value) tuples on 100k rows)."""
        path = key.path
        get = _getter(path, data)
        direct = None if path.hops else path.field.name
        lower = path.category == _TEXT  # Salesforce sorts text case-insensitively
        desc, nulls_first = key.desc, key.nulls_first

        def sort_pass(rows: list[Record]) -> list[Record]:
            values: list[Any] = [r.get(direct) for r in rows] if direct is not None else list(map(get, rows))
            if lower:
                values = [v if v is None else v.lower() for v in values]
            order = [i for i, v in enumerate(values) if v is not None]
            order.sort(key=lambda i: values[i], reverse=desc)
            ordered = [rows[i] for i in order]
            if len(order) == len(rows):
                return ordered
            nulls = [r for r, v in zip(rows, values, strict=True) if v is None]
            return nulls + ordered if nulls_first else ordered + nulls

        return sort_pass


def _first_token(node: Tree | Token) -> Token:
    while isinstance(node, Tree):
        node = node.children[0]
    return node


def compile_soql(text: str, data: SalesforceData, *, now: datetime) -> SoqlQuery:
    """Parse and check a query against the org's metadata; raises SoqlError like Salesforce would.

    `now` fixes what TODAY, LAST_N_DAYS:n and friends mean (UTC days), so results are reproducible.
    """
    return _Compiler(text, data, now).compile(_parse(text))
