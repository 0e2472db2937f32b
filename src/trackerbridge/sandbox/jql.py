"""The JQL subset the Jira sandbox answers: a lark grammar compiled into nested closures.

A search evaluates `matches` over up to 100,000 issues, so everything that depends only on the
query (users, statuses, options, dates relative to `now`) is resolved once at compile time and the
per-issue work is a few dict lookups. Anything outside the subset raises `JqlError` with a
deterministic message (never silently ignored), worded like the `errorMessages` of real Jira so
that clients see the same 400s they would see in production.
"""

from __future__ import annotations

import calendar
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from trackerbridge.sandbox.jira_model import (
    COMMENTS,
    DATE,
    DATETIME,
    ISSUE_TYPES,
    ISSUETYPE,
    LABELS,
    LINK_TYPES,
    LINKS,
    NUMBER,
    OPTION,
    PRIORITIES,
    PRIORITY,
    PROJECT,
    RESOLUTION,
    RESOLUTIONS,
    STATUS,
    STATUS_CATEGORIES,
    STRING,
    TEXT,
    USER,
    FieldDef,
    Issue,
    JiraData,
)

__all__ = ["JqlError", "JqlQuery", "compile_jql"]

Pred = Callable[[Issue], bool]
Getter = Callable[[Issue], Any]

UTC = timezone.utc

# Pseudo kinds for clauses that are not one stored field.
KEY, CATEGORY, ALL_TEXT = "issuekey", "statusCategory", "text"

DATE_FORMATS_HELP = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
    "or a period format e.g. '-5d', '4w 2d'."
)
VALID_OPERATORS_HELP = (
    "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'."
)


class JqlError(ValueError):
    """Message text as Jira gives it in errorMessages, e.g.
    "Field 'foo' does not exist or you do not have permission to view it."
    """


# --------------------------------------------------------------------------------------------
# Parsing


class _AlwaysLexKeywords:
    """Post-lexer hook whose only job is `always_accept`: the contextual lexer then recognises
    these keywords everywhere, so `status = and` or `and x = y` fail like in Jira instead of
    treating the keyword as a bare word."""

    always_accept = ("AND", "OR", "NOT", "IN", "IS", "ORDER")

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        return stream


@cache
def _parser() -> Lark:
    """Built once per process: LALR with a contextual lexer is the fast lark configuration."""
    grammar = Path(__file__).with_name("jql.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        maybe_placeholders=True,
        postlex=_AlwaysLexKeywords(),
    )


_OPERATOR_TERMINALS = frozenset({"EQ", "NE", "LT", "LE", "GT", "GE", "LIKE", "NOT_LIKE"})
_TERMINAL_TEXT = {
    "OR": "'OR'",
    "AND": "'AND'",
    "ORDER": "'ORDER BY'",
    "BY": "'BY'",
    "_RPAR": "')'",
    "_LPAR": "'('",
    "_COMMA": "','",
    "ASC": "'ASC'",
    "DESC": "'DESC'",
    "EMPTY": "'EMPTY'",
    "NOT": "'NOT'",
}
_UNSUPPORTED_OPERATORS = frozenset({"was", "changed"})


def _position(text: str, line: int | None, column: int | None) -> str:
    if line is None or column is None or line < 1:
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    return f"(line {line}, character {column})"


def _either(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return "either " + ", ".join(items[:-1]) + " or " + items[-1]


def _expected_text(expected: set[str], at_end: bool) -> tuple[str, str]:
    """What the parser wanted, in Jira's words, plus an optional trailing hint."""
    if expected & _OPERATOR_TERMINALS:
        return "operator", " " + VALID_OPERATORS_HELP
    if "CF" in expected:
        return "a field name", ""
    if "FUNC" in expected and "WORD" in expected:
        return "either a value, list or function", ""
    if expected == {"FUNC", "_LPAR"}:
        return "either '(' or a function", ""
    if at_end and "_RPAR" in expected:
        return "')'", ""
    if expected == {"EMPTY", "NOT"}:
        return "either 'EMPTY' or 'NOT EMPTY'", ""
    names = [_TERMINAL_TEXT[t] for t in _TERMINAL_TEXT if t in expected]
    return _either(names) if names else "the end of the query", ""


def _syntax_error(text: str, exc: UnexpectedInput) -> JqlError:
    """Turn a lark error into Jira's 'Error in the JQL Query: ...' with the 1-based position."""
    prefix = "Error in the JQL Query: "
    if isinstance(exc, UnexpectedCharacters):
        where = _position(text, exc.line, exc.column)
        at = exc.pos_in_stream or 0
        char = text[at]
        if char in "\"'":
            rest = text[at + 1 :]
            return JqlError(f"{prefix}The quoted string '{rest}' has not been completed. {where}")
        return JqlError(
            f"{prefix}The character '{char}' is a reserved JQL character. You must enclose it in a "
            f"string or use the escape '\\u{ord(char):04x}' instead. {where}"
        )
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        at_end = token.type == "$END"
        where = _position(text, None, None) if at_end else _position(text, token.line, token.column)
        try:
            expected = set(exc.interactive_parser.accepts()) - {"$END"}
        except Exception:  # pragma: no cover - accepts() is best effort
            expected = set(exc.expected) - {"$END"}
        if not at_end and expected & _OPERATOR_TERMINALS and str(token).casefold() in _UNSUPPORTED_OPERATORS:
            return _unsupported(str(token).upper())
        wanted, hint = _expected_text(expected, at_end)
        got = "before the end of the query" if at_end else f"but got '{token}'"
        return JqlError(f"{prefix}Expecting {wanted} {got}.{hint} {where}")
    return JqlError(f"{prefix}{exc.__class__.__name__} {_position(text, exc.line, exc.column)}")


def _unsupported(construct: str) -> JqlError:
    return JqlError(f"Unsupported JQL construct '{construct}' in the trackerbridge sandbox.")


_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[\s\S])")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _unquote(raw: str) -> str:
    """A quoted JQL string without its quotes, backslash escapes resolved (\\" \\' \\\\ \\n \\uXXXX)."""

    def one(m: re.Match[str]) -> str:
        esc = m.group(1)
        if len(esc) == 5:
            return chr(int(esc[1:], 16))
        return _SIMPLE_ESCAPES.get(esc, esc)

    return _ESCAPE.sub(one, raw[1:-1])


@dataclass(frozen=True)
class _Lit:
    """One literal of the query: a word, a quoted string, EMPTY, or a function call."""

    kind: str  # "word" | "string" | "empty" | "func"
    text: str  # the unquoted text, or the function name as written
    args: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.kind == "empty"

    @property
    def is_func(self) -> bool:
        return self.kind == "func"


# --------------------------------------------------------------------------------------------
# Literal helpers (all run at compile time)

_ABSOLUTE = re.compile(r"(\d{4})([/-])(\d{1,2})\2(\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?")
_PERIOD = re.compile(r"\s*[+-]?\s*\d+\s*[wdhmWDH](?:\s*[+-]?\s*\d+\s*[wdhmWDH])*\s*")
_PERIOD_TERM = re.compile(r"([+-]?)\s*(\d+)\s*([wdhmWDH])")
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_OFFSET = re.compile(r"\s*([+-]?)\s*(\d+)\s*([yMwdhm]?)\s*")


def _period(text: str) -> timedelta | None:
    """'-5d', '4w 2d', '+1h', '-60m': a leading sign applies to the terms after it."""
    if not _PERIOD.fullmatch(text):
        return None
    total, sign = timedelta(0), 1
    for s, n, unit in _PERIOD_TERM.findall(text):
        if s:
            sign = -1 if s == "-" else 1
        step = _UNITS["m"] if unit == "m" else _UNITS[unit.lower()]
        total += sign * int(n) * step
    return total


def _absolute(text: str) -> datetime | None:
    m = _ABSOLUTE.fullmatch(text.strip())
    if not m:
        return None
    year, _, month, day, hour, minute = m.groups()
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), tzinfo=UTC)
    except ValueError:
        return None


def _add_months(when: datetime, months: int) -> datetime:
    index = when.year * 12 + when.month - 1 + months
    year, month = divmod(index, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


def _shift(when: datetime, offset: str, func: str) -> datetime:
    """startOfDay("-1d") style offsets: y, M, w, d, h, m; a bare number counts days."""
    m = _OFFSET.fullmatch(offset)
    if not m:
        raise JqlError(f"The argument '{offset}' of the function '{func}' is not an offset such as '-1d'.")
    sign, count, unit = m.groups()
    n = -int(count) if sign == "-" else int(count)
    if unit == "y":
        return _add_months(when, 12 * n)
    if unit == "M":
        return _add_months(when, n)
    return when + n * _UNITS.get(unit or "d", _UNITS["d"])


_KEY_SHAPE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)-(\d+)")


@lru_cache(maxsize=1 << 18)
def _key_parts(key: str) -> tuple[str, int]:
    """(project, number) of a key; cached because ORDER BY key asks for every issue's parts."""
    project, _, number = key.rpartition("-")
    return (project, int(number)) if number.isdigit() else (key, 0)


# Lucene's English stop words, which Jira's text index drops.
_STOP_WORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
        "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
        "they", "this", "to", "was", "will", "with",
    }
)  # fmt: skip
_QUERY_TERM = re.compile(r'"([^"]*)"|([\w*?]+)')
_QUERY_WORD = re.compile(r"[\w*?]+")


def _word_pattern(word: str) -> str:
    body = re.escape(word).replace(r"\*", r"\w*").replace(r"\?", r"\w")
    return rf"\b{body}\b"


def _text_finder(query: str, label: str) -> Callable[[str], bool] | None:
    """Compile a `~` query: every term must occur as a word (case-insensitive); `*`/`?` are
    wildcards; "quoted phrases" must occur as consecutive words; stop words are ignored as Jira's
    index ignores them. Returns None when only stop words remain (nothing can match).

    Matching lower-cases the text once and checks plain substrings first; the word-boundary
    regexes only run on texts that contain every literal piece (ten times faster on misses).
    """
    patterns: list[str] = []
    needles: list[str] = []
    seen_term = False
    for phrase, word in _QUERY_TERM.findall(query.lower()):
        words = [w for w in _QUERY_WORD.findall(phrase or word) if re.search(r"\w", w)]
        if not words:
            continue
        seen_term = True
        if not phrase and words[0] in _STOP_WORDS:
            continue
        patterns.append(r"\W+".join(_word_pattern(w) for w in words))
        needles += [max(re.split(r"[*?]", w), key=len) for w in words]
    if not seen_term:
        raise JqlError(f"The field '{label}' does not support searching for an empty string.")
    if not patterns:
        return None
    if len(patterns) == 1:
        confirm = re.compile(patterns[0]).search
    else:
        confirm = re.compile("".join(f"(?=.*?{p})" for p in patterns), re.DOTALL).match
    needles = [n for n in dict.fromkeys(needles) if n]

    def find(text: str) -> bool:
        low = text.lower()
        for needle in needles:
            if needle not in low:
                return False
        return confirm(low) is not None

    return find


# --------------------------------------------------------------------------------------------
# Fields


EQ_OPS = frozenset({"=", "!=", "in", "not in"})
EMPTY_OPS = frozenset({"is", "is not"})
RANGE_OPS = frozenset({"<", "<=", ">", ">="})
TEXT_OPS = frozenset({"~", "!~"})
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_OPS_BY_KIND: dict[str, frozenset[str]] = {
    PROJECT: EQ_OPS | EMPTY_OPS,
    ISSUETYPE: EQ_OPS | EMPTY_OPS,
    STATUS: EQ_OPS | EMPTY_OPS,
    RESOLUTION: EQ_OPS | EMPTY_OPS,
    USER: EQ_OPS | EMPTY_OPS,
    LABELS: EQ_OPS | EMPTY_OPS,
    OPTION: EQ_OPS | EMPTY_OPS,
    PRIORITY: EQ_OPS | EMPTY_OPS | RANGE_OPS,
    DATE: EQ_OPS | EMPTY_OPS | RANGE_OPS,
    DATETIME: EQ_OPS | EMPTY_OPS | RANGE_OPS,
    NUMBER: EQ_OPS | EMPTY_OPS | RANGE_OPS,
    STRING: TEXT_OPS | EMPTY_OPS,
    TEXT: TEXT_OPS | EMPTY_OPS,
    KEY: EQ_OPS | RANGE_OPS,
    CATEGORY: EQ_OPS,
    ALL_TEXT: TEXT_OPS,
}

_ALIASES = {
    "type": "issuetype",
    "createddate": "created",
    "updateddate": "updated",
    "due": "duedate",
    "duedate": "duedate",
    "resolved": "resolutiondate",
    "resolutiondate": "resolutiondate",
}
_KEY_CLAUSES = frozenset({"key", "issuekey", "id", "issue"})
_CATEGORY_CLAUSES = frozenset({"statuscategory", "category"})
# Real Jira clauses the sandbox does not emulate: a clear "unsupported", not "does not exist".
_UNSUPPORTED_CLAUSES = frozenset(
    {
        "issuefunction", "sprint", "fixversion", "affectedversion", "component", "parent", "comment",
        "attachments", "filter", "savedfilter", "request", "watcher", "watchers",
        "voter", "votes", "worklogauthor", "worklogcomment", "worklogdate", "timespent",
        "originalestimate", "remainingestimate", "environment", "level", "lastviewed", "creator",
        "subtasks", "epic link", "parentepic", "parentproject", "labelscf",
    }
)  # fmt: skip

_FUNCTIONS = frozenset({"now", "currentuser", "startofday", "endofday"})
_DATE_FUNCTIONS = frozenset({"now", "startofday", "endofday"})
_CATEGORY_ORDER = {"new": 0, "indeterminate": 1, "done": 2}


@dataclass
class _Field:
    """A resolved clause name: how to read an issue's value and what the field supports.

    `get` returns the value in the equality domain (None when empty); `rget` the value in the
    range domain and `bound` a literal's bound in that domain for an operator; `sort` the ORDER BY
    value; `text` the searchable text for `~`.
    """

    label: str  # the clause as written, for messages
    kind: str
    get: Getter
    resolve: Callable[[_Lit], frozenset[Any]]
    rget: Getter | None = None
    bound: Callable[[_Lit, str], Any] | None = None
    sort: Getter | None = None
    text: Getter | None = None
    multi: bool = False

    @property
    def ops(self) -> frozenset[str]:
        return _OPS_BY_KIND[self.kind]


def _plain(fid: str) -> Getter:
    def get(issue: Issue) -> Any:
        return issue.fields.get(fid) or None

    return get


def _number_getter(fid: str) -> Getter:
    def get(issue: Issue) -> Any:
        value = issue.fields.get(fid)
        return None if value is None or value == "" else value

    return get


def _datetime_minute(fid: str) -> Getter:
    def get(issue: Issue) -> Any:
        value = issue.fields.get(fid)
        return value.replace(second=0, microsecond=0) if value else None

    return get


def _casefolded(fid: str) -> Getter:
    def get(issue: Issue) -> Any:
        value = issue.fields.get(fid)
        return value.casefold() if value else None

    return get


def _joined_text(fids: tuple[str, ...]) -> Getter:
    def get(issue: Issue) -> Any:
        fields = issue.fields
        return "\n".join(v for f in fids if isinstance(v := fields.get(f), str) and v) or None

    return get


def _issue_key(issue: Issue) -> str:
    return issue.key


def _issue_key_parts(issue: Issue) -> tuple[str, int]:
    return _key_parts(issue.key)


def _issue_id(issue: Issue) -> int:
    return issue.id


# --------------------------------------------------------------------------------------------
# The compiler


class _Compiler:
    """Turns the lark tree into closures; every literal is resolved here, once."""

    def __init__(self, data: JiraData, now: datetime, current_user: str | None) -> None:
        self.data = data
        self.now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        self.current_user = current_user
        self.field_ids: list[str] = []

    # ---- structure

    def query(self, tree: Tree) -> tuple[Pred, list[tuple[Getter, bool]]]:
        where, order_by = tree.children
        pred = self.expr(where) if where is not None else _always
        keys = self.order_by(order_by) if order_by is not None else []
        return pred, keys

    def expr(self, node: Tree) -> Pred:
        kind = node.data
        parts = [c for c in node.children if isinstance(c, Tree)]
        if kind == "or_":
            return _or(self.expr(parts[0]), self.expr(parts[1]))
        if kind == "and_":
            return _and(self.expr(parts[0]), self.expr(parts[1]))
        if kind == "not_":
            inner = self.expr(parts[0])
            return lambda issue: not inner(issue)
        return self.clause(node)

    def order_by(self, node: Tree) -> list[tuple[Getter, bool]]:
        keys: list[tuple[Getter, bool]] = []
        for sort_key in (c for c in node.children if isinstance(c, Tree)):
            field_node, direction = sort_key.children
            fld = self.field(field_node)
            if fld.sort is None:
                raise JqlError(f"Field '{fld.label}' does not support sorting.")
            desc = direction is not None and str(direction).casefold() == "desc"
            keys.append((fld.sort, desc))
        return keys

    # ---- literals

    def literal(self, node: Tree | Token) -> _Lit:
        if isinstance(node, Tree):  # function
            name, *args = node.children
            values = tuple(_unquote(str(a)) if isinstance(a, Token) and a.type == "STRING" else str(a) for a in args)
            return _Lit("func", str(name), values)
        if node.type == "EMPTY":
            return _Lit("empty", str(node))
        if node.type == "STRING":
            return _Lit("string", _unquote(str(node)))
        return _Lit("word", str(node))

    def values(self, node: Tree | Token) -> list[_Lit]:
        if isinstance(node, Tree) and node.data == "list":
            return [self.literal(c) for c in node.children]
        return [self.literal(node)]

    def function(self, lit: _Lit, allowed: frozenset[str], label: str) -> str:
        """Validate a function literal for a field; returns its lower-cased name."""
        name = lit.text.casefold()
        if name not in _FUNCTIONS:
            raise _unsupported(f"{lit.text}()")
        if name not in allowed:
            raise JqlError(f"A value provided by the function '{lit.text}' is invalid for field '{label}'.")
        most = 1 if name in ("startofday", "endofday") else 0
        if len(lit.args) > most:
            wanted = "at most one argument" if most else "no arguments"
            raise JqlError(f"Function '{lit.text}' expected {wanted} but received {len(lit.args)}.")
        return name

    def when(self, lit: _Lit, label: str) -> datetime:
        """A date/datetime literal as an aware UTC instant (a date alone is its start of day)."""
        if lit.is_func:
            name = self.function(lit, _DATE_FUNCTIONS, label)
            if name == "now":
                return self.now
            start = datetime.combine(self.now.date(), time(0), tzinfo=UTC)
            if name == "endofday":
                start += timedelta(days=1) - timedelta(milliseconds=1)
            return _shift(start, lit.args[0], lit.text) if lit.args else start
        parsed = _absolute(lit.text)
        if parsed is not None:
            return parsed
        delta = _period(lit.text)
        if delta is not None:
            return self.now + delta
        raise JqlError(f"Date value '{lit.text}' for field '{label}' is invalid. {DATE_FORMATS_HELP}")

    def number(self, lit: _Lit, label: str) -> float:
        if lit.is_func:
            self.function(lit, frozenset(), label)
        try:
            value = float(lit.text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise JqlError(f"The value '{lit.text}' is not a valid number for the field '{label}'.")
        return value

    # ---- fields

    def field(self, node: Tree) -> _Field:
        (token,) = node.children
        assert isinstance(token, Token)
        label = _unquote(str(token)) if token.type == "STRING" else str(token)
        low = label.casefold()
        if token.type == "CF":
            label = re.sub(r"\s+", "", label)
            low = label.casefold()
        data = self.data
        if low in _KEY_CLAUSES:
            self._uses("issuekey")
            return self.key_field(label)
        if low in _CATEGORY_CLAUSES:
            self._uses("status")
            return self.category_field(label)
        if low == "issuelinktype":
            self._uses("issuelinks")
            return self.link_type_field(label)
        if low == "text":
            fids = tuple(f.id for f in data.fields.values() if f.kind in (STRING, TEXT) and f.searchable)
            self._uses(*fids)
            return _Field(label, ALL_TEXT, _joined_text(fids), _no_resolve, text=_joined_text(fids))
        fd: FieldDef | None = data.fields.get(_ALIASES[low]) if low in _ALIASES else None
        if fd is None:
            fd = data.field_by_clause(label)
        if fd is None:
            if low in _UNSUPPORTED_CLAUSES:
                raise _unsupported(label)
            raise JqlError(f"Field '{label}' does not exist or you do not have permission to view it.")
        if not fd.searchable or fd.kind in (LINKS, COMMENTS) or fd.kind not in _OPS_BY_KIND:
            raise _unsupported(label)
        self._uses(fd.id)
        return self.stored_field(label, fd)

    def _uses(self, *fids: str) -> None:
        for fid in fids:
            if fid not in self.field_ids:
                self.field_ids.append(fid)

    def key_field(self, label: str) -> _Field:
        data = self.data

        def resolve(lit: _Lit) -> frozenset[Any]:
            if lit.is_func:
                self.function(lit, frozenset(), label)
            issue = data.issue(lit.text.strip())
            if issue is None:
                raise JqlError(f"An issue with key '{lit.text}' does not exist for field '{label}'.")
            return frozenset({issue.key})

        return _Field(label, KEY, _issue_key, resolve, rget=_issue_key_parts, sort=_issue_key_parts)

    def category_field(self, label: str) -> _Field:
        by_literal: dict[str, str] = {}
        for key, cat in STATUS_CATEGORIES.items():
            for alias in (key, str(cat["name"]), str(cat["id"])):
                by_literal[alias.casefold()] = key
        statuses = self.data.statuses

        def resolve(lit: _Lit) -> frozenset[Any]:
            if lit.is_func:
                self.function(lit, frozenset(), label)
            category = by_literal.get(lit.text.strip().casefold())
            if category is None:
                raise JqlError(f"The value '{lit.text}' does not exist for the field '{label}'.")
            return frozenset(sid for sid, s in statuses.items() if s.category == category)

        rank = {sid: _CATEGORY_ORDER.get(s.category, 3) for sid, s in statuses.items()}

        def sort(issue: Issue) -> Any:
            sid = issue.fields.get("status")
            return rank.get(sid, 3) if sid else None

        return _Field(label, CATEGORY, _plain("status"), resolve, sort=sort)

    def link_type_field(self, label: str) -> _Field:
        """`issueLinkType`: issues with a link described so from their side ("delivers", "is delivered by"): the values
        are the link types' inward and outward descriptions, which read from each issue as the issue linking model
        explains (https://developer.atlassian.com/cloud/jira/platform/issue-linking-model/). =, !=, IN, NOT IN."""
        data = self.data
        descriptions = {d.casefold(): d for _, inward, outward in LINK_TYPES.values() for d in (inward, outward)}

        def get(issue: Issue) -> frozenset[str] | None:
            found = set()
            for lk in data.links_of(issue.key):
                _, inward, outward = LINK_TYPES[lk.type]
                found.add((outward if lk.inward == issue.key else inward).casefold())
            return frozenset(found) or None

        def resolve(lit: _Lit) -> frozenset[Any]:
            if lit.is_func:
                self.function(lit, frozenset(), label)
            text = lit.text.strip().casefold()
            if text not in descriptions:
                raise JqlError(f"The value '{lit.text}' does not exist for the field '{label}'.")
            return frozenset({text})

        return _Field(label, CATEGORY, get, resolve, multi=True)

    def stored_field(self, label: str, fd: FieldDef) -> _Field:
        builders: dict[str, Callable[[str, FieldDef], _Field]] = {
            PROJECT: self._project_field,
            ISSUETYPE: self._issuetype_field,
            PRIORITY: self._priority_field,
            RESOLUTION: self._resolution_field,
            STATUS: self._status_field,
            USER: self._user_field,
            LABELS: self._labels_field,
            OPTION: self._option_field,
            NUMBER: self._number_field,
            DATE: self._date_field,
            DATETIME: self._datetime_field,
        }
        builder = builders.get(fd.kind)
        if builder is not None:
            return builder(label, fd)
        # STRING / TEXT: only ~, !~ and IS [NOT] EMPTY
        get = _plain(fd.id)
        return _Field(label, fd.kind, get, _no_resolve, sort=_casefolded(fd.id), text=get)

    def _enum(
        self, label: str, table: dict[str, Any], empty_words: frozenset[str] = frozenset()
    ) -> Callable[[_Lit], frozenset[Any]]:
        """Resolver for a closed set of names/ids: unknown values are errors, as in Jira."""

        def resolve(lit: _Lit) -> frozenset[Any]:
            if lit.is_func:
                self.function(lit, frozenset(), label)
            low = lit.text.strip().casefold()
            if low in table:
                found = table[low]
                return found if isinstance(found, frozenset) else frozenset({found})
            if low in empty_words:
                return frozenset({None})
            raise JqlError(f"The value '{lit.text}' does not exist for the field '{label}'.")

        return resolve

    def _project_field(self, label: str, fd: FieldDef) -> _Field:
        data = self.data
        table: dict[str, Any] = {}
        for key, name in data.projects.items():
            table.setdefault(name.casefold(), key)
        for key in data.projects:
            table[key.casefold()] = key
        known = self._enum(label, table)

        def resolve(lit: _Lit) -> frozenset[Any]:
            try:
                return known(lit)
            except JqlError:
                # Projects that only exist through their issues (hand-built data) still resolve.
                prefix = lit.text.strip().upper() + "-"
                if not lit.is_func and any(k.startswith(prefix) for k in data.issues):
                    return frozenset({prefix[:-1]})
                raise

        def sort(issue: Issue) -> Any:
            key = issue.fields.get(fd.id)
            return data.projects.get(key, key).casefold() if key else None

        return _Field(label, PROJECT, _plain(fd.id), resolve, sort=sort)

    def _issuetype_field(self, label: str, fd: FieldDef) -> _Field:
        table: dict[str, Any] = {}
        for name, tid in ISSUE_TYPES.items():
            table[name.casefold()] = name
            table[tid] = name
        return _Field(label, ISSUETYPE, _plain(fd.id), self._enum(label, table), sort=_casefolded(fd.id))

    def _priority_field(self, label: str, fd: FieldDef) -> _Field:
        table: dict[str, Any] = {}
        rank: dict[Any, int] = {}
        for n, (name, pid) in enumerate(PRIORITIES.items()):
            table[name.casefold()] = name
            table[pid] = name
            rank[name] = len(PRIORITIES) - n  # Highest is greatest: ORDER BY priority DESC starts there
        fid = fd.id

        resolve = self._enum(label, table)

        def rget(issue: Issue) -> Any:
            return rank.get(issue.fields.get(fid))

        def bound(lit: _Lit, op: str) -> Any:
            (name,) = resolve(lit)
            return rank[name]

        return _Field(label, PRIORITY, _plain(fid), resolve, rget=rget, bound=bound, sort=rget)

    def _resolution_field(self, label: str, fd: FieldDef) -> _Field:
        table: dict[str, Any] = {}
        for name, rid in RESOLUTIONS.items():
            table[name.casefold()] = name
            table[rid] = name
        resolve = self._enum(label, table, frozenset({"unresolved"}))
        return _Field(label, RESOLUTION, _plain(fd.id), resolve, sort=_casefolded(fd.id))

    def _status_field(self, label: str, fd: FieldDef) -> _Field:
        table: dict[str, Any] = {}
        for sid, status in self.data.statuses.items():
            low = status.name.casefold()
            table[low] = frozenset(table.get(low, frozenset()) | {sid})
        for sid in self.data.statuses:
            table[sid.casefold()] = frozenset({sid})
        position = {sid: n for n, sid in enumerate(self.data.statuses)}
        fid = fd.id

        def sort(issue: Issue) -> Any:
            sid = issue.fields.get(fid)
            return position.get(sid, len(position)) if sid else None

        return _Field(label, STATUS, _plain(fid), self._enum(label, table), sort=sort)

    def _user_field(self, label: str, fd: FieldDef) -> _Field:
        users = self.data.users

        def resolve(lit: _Lit) -> frozenset[Any]:
            if lit.is_func:
                self.function(lit, frozenset({"currentuser"}), label)
                return frozenset({self.current_user}) if self.current_user else frozenset()
            found = frozenset(u.account_id for u in users.values() if u.matches(lit.text))
            if not found:
                raise JqlError(f"The value '{lit.text}' does not exist for the field '{label}'.")
            return found

        names = {aid: u.display_name.casefold() for aid, u in users.items()}
        fid = fd.id

        def sort(issue: Issue) -> Any:
            aid = issue.fields.get(fid)
            return (names.get(aid) or str(aid).casefold()) if aid else None

        return _Field(label, USER, _plain(fid), resolve, sort=sort)

    def _labels_field(self, label: str, fd: FieldDef) -> _Field:
        fid = fd.id

        def resolve(lit: _Lit) -> frozenset[Any]:
            if lit.is_func:
                self.function(lit, frozenset(), label)
            return frozenset({lit.text})

        def sort(issue: Issue) -> Any:
            labels = issue.fields.get(fid)
            return tuple(sorted(labels)) if labels else None

        return _Field(label, LABELS, _plain(fid), resolve, sort=sort, multi=True)

    def _option_field(self, label: str, fd: FieldDef) -> _Field:
        allowed = {v.casefold() for v in fd.allowed_values}

        def resolve(lit: _Lit) -> frozenset[Any]:
            if lit.is_func:
                self.function(lit, frozenset(), label)
            low = lit.text.strip().casefold()
            if allowed and low not in allowed:
                raise JqlError(f"The option '{lit.text}' for field '{label}' does not exist.")
            return frozenset({low})

        get = _casefolded(fd.id)
        return _Field(label, OPTION, get, resolve, sort=get)

    def _number_field(self, label: str, fd: FieldDef) -> _Field:
        get = _number_getter(fd.id)

        def resolve(lit: _Lit) -> frozenset[Any]:
            return frozenset({self.number(lit, label)})

        def bound(lit: _Lit, op: str) -> Any:
            return self.number(lit, label)

        return _Field(label, NUMBER, get, resolve, rget=get, bound=bound, sort=get)

    def _date_field(self, label: str, fd: FieldDef) -> _Field:
        def resolve(lit: _Lit) -> frozenset[Any]:
            when = self.when(lit, label)
            # A date equals an instant only at its start of day (UTC).
            return frozenset({when.date().isoformat()}) if when.time() == time(0) else frozenset()

        def bound(lit: _Lit, op: str) -> Any:
            # The stored date stands for its start of day: pick the day to compare ISO strings with.
            when = self.when(lit, label)
            floor = when.date()
            ceil = floor if when.time() == time(0) else floor + timedelta(days=1)
            return (ceil if op in ("<", ">=") else floor).isoformat()

        get = _plain(fd.id)
        return _Field(label, DATE, get, resolve, rget=get, bound=bound, sort=get)

    def _datetime_field(self, label: str, fd: FieldDef) -> _Field:
        def resolve(lit: _Lit) -> frozenset[Any]:
            return frozenset({self.when(lit, label).replace(second=0, microsecond=0)})

        def bound(lit: _Lit, op: str) -> Any:
            return self.when(lit, label)

        get = _plain(fd.id)
        return _Field(label, DATETIME, _datetime_minute(fd.id), resolve, rget=get, bound=bound, sort=get)

    # ---- clauses

    def clause(self, node: Tree) -> Pred:
        kind = node.data
        fld = self.field(node.children[0])
        if kind in ("is_empty", "is_not_empty"):
            op = "is" if kind == "is_empty" else "is not"
            self._check_op(fld, op)
            return _is_empty(fld.get) if op == "is" else _is_not_empty(fld.get)
        if kind in ("in_", "not_in"):
            op = "in" if kind == "in_" else "not in"
            self._check_op(fld, op)
            return self.membership(fld, op, self.values(node.children[-1]))
        op_node, value = node.children[1], node.children[2]
        op = str(op_node.children[0])
        self._check_op(fld, op)
        lit = self.literal(value)
        if op in EQ_OPS:
            return self.membership(fld, op, [lit])
        if lit.is_empty:
            raise JqlError(f"The operator '{op}' does not support searching for EMPTY values.")
        if op in TEXT_OPS:
            return self.text_search(fld, op, lit)
        return self.range(fld, op, lit)

    def _check_op(self, fld: _Field, op: str) -> None:
        if op not in fld.ops:
            raise JqlError(f"The operator '{op}' is not supported by the '{fld.label}' field.")

    def membership(self, fld: _Field, op: str, lits: list[_Lit]) -> Pred:
        """=, !=, IN, NOT IN; EMPTY among the values means 'or the field is empty'."""
        targets: set[Any] = set()
        for lit in lits:
            if lit.is_empty:
                if "is" not in fld.ops:
                    raise JqlError(f"The field '{fld.label}' does not support searching for EMPTY values.")
                targets.add(None)
            else:
                targets |= fld.resolve(lit)
        with_empty = None in targets
        targets.discard(None)
        frozen = frozenset(targets)
        get = fld.get
        if op in ("=", "in"):
            if fld.multi:
                return _any_of(get, frozen, with_empty)
            return _in(get, frozen, with_empty)
        # != and NOT IN never match an empty field (Jira quirk); `!= EMPTY` is IS NOT EMPTY.
        if fld.multi:
            return _none_of(get, frozen)
        return _not_in(get, frozen)

    def range(self, fld: _Field, op: str, lit: _Lit) -> Pred:
        cmp = _CMP[op]
        if fld.kind == KEY:  # within the key's project, by number
            return self.key_range(fld, cmp, lit)
        assert fld.rget is not None and fld.bound is not None  # kinds with range operators have both
        return _compare(fld.rget, cmp, fld.bound(lit, op))

    def key_range(self, fld: _Field, cmp: Callable[[Any, Any], bool], lit: _Lit) -> Pred:
        if lit.is_func:
            self.function(lit, frozenset(), fld.label)
        text = lit.text.strip()
        m = _KEY_SHAPE.fullmatch(text)
        if m is None:
            issue = self.data.issue(text) if text.isdigit() else None
            if issue is None:
                raise JqlError(f"An issue with key '{lit.text}' does not exist for field '{fld.label}'.")
            project, number = _key_parts(issue.key)
        else:
            project, number = m.group(1).upper(), int(m.group(2))

        def pred(issue: Issue) -> bool:
            p, n = _key_parts(issue.key)
            return p == project and cmp(n, number)

        return pred

    def text_search(self, fld: _Field, op: str, lit: _Lit) -> Pred:
        if lit.is_func:
            self.function(lit, frozenset(), fld.label)
        get = fld.text
        assert get is not None  # only text kinds allow ~
        find = _text_finder(lit.text, fld.label)
        if op == "~":
            if find is None:
                return _never
            return lambda issue: (t := get(issue)) is not None and find(t)
        if find is None:
            return _is_not_empty(get)
        return lambda issue: (t := get(issue)) is not None and not find(t)


# --------------------------------------------------------------------------------------------
# Predicate templates (each returns a real bool)


def _always(issue: Issue) -> bool:
    return True


def _never(issue: Issue) -> bool:
    return False


def _no_resolve(lit: _Lit) -> frozenset[Any]:  # pragma: no cover - guarded by the operator check
    raise AssertionError("text fields have no equality")


def _and(a: Pred, b: Pred) -> Pred:
    return lambda issue: a(issue) and b(issue)


def _or(a: Pred, b: Pred) -> Pred:
    return lambda issue: a(issue) or b(issue)


def _is_empty(get: Getter) -> Pred:
    return lambda issue: get(issue) is None


def _is_not_empty(get: Getter) -> Pred:
    return lambda issue: get(issue) is not None


def _in(get: Getter, targets: frozenset[Any], with_empty: bool) -> Pred:
    if with_empty:
        return lambda issue: (v := get(issue)) is None or v in targets
    return lambda issue: get(issue) in targets


def _not_in(get: Getter, targets: frozenset[Any]) -> Pred:
    return lambda issue: (v := get(issue)) is not None and v not in targets


def _any_of(get: Getter, targets: frozenset[Any], with_empty: bool) -> Pred:
    if with_empty:
        return lambda issue: (v := get(issue)) is None or not targets.isdisjoint(v)
    return lambda issue: (v := get(issue)) is not None and not targets.isdisjoint(v)


def _none_of(get: Getter, targets: frozenset[Any]) -> Pred:
    return lambda issue: (v := get(issue)) is not None and targets.isdisjoint(v)


def _compare(get: Getter, cmp: Callable[[Any, Any], bool], bound: Any) -> Pred:
    return lambda issue: (v := get(issue)) is not None and cmp(v, bound)


# --------------------------------------------------------------------------------------------
# Public interface


class JqlQuery:
    """A compiled query. `matches` is one closure call per issue; `order` applies ORDER BY with
    ties (and the no-ORDER-BY case) broken by issue id ascending, so paging is stable."""

    def __init__(self, text: str, pred: Pred, sort_keys: list[tuple[Getter, bool]], field_ids: list[str]) -> None:
        self.text = text
        self._pred = pred
        self._sort_keys = sort_keys
        self.field_ids = field_ids  # stored field ids the query reads ("issuekey" for key clauses)

    def __repr__(self) -> str:
        return f"JqlQuery({self.text!r})"

    def matches(self, issue: Issue) -> bool:
        return self._pred(issue)

    def select(self, issues: Iterable[Issue]) -> list[Issue]:
        """The matching issues, in ORDER BY order (the fast path for a whole search)."""
        return self.order(list(filter(self._pred, issues)))

    def order(self, issues: list[Issue]) -> list[Issue]:
        """Stable multi-key sort: empties last when ascending, first when descending.

        One stable pass per key, last key first. Each pass sorts indices by a plain list of values
        instead of decorating with tuples: 100,000 fresh tuples per pass would wake the garbage
        collector, which then walks the whole sandbox heap (measured: about half the sort time).
        """
        result = sorted(issues, key=_issue_id)
        for get, desc in reversed(self._sort_keys):
            values = list(map(get, result))
            empty: list[Issue] = []
            if any(v is None for v in values):
                empty = [issue for issue, v in zip(result, values, strict=True) if v is None]
                result = [issue for issue, v in zip(result, values, strict=True) if v is not None]
                values = [v for v in values if v is not None]
            ranks = sorted(range(len(values)), key=values.__getitem__, reverse=desc)
            result = [result[n] for n in ranks]
            result = empty + result if desc else result + empty
        return result


def compile_jql(text: str, data: JiraData, *, now: datetime, current_user: str | None) -> JqlQuery:
    """Parse and compile `text` once; raises JqlError for bad syntax or anything outside the subset."""
    if not text or not text.strip():
        return JqlQuery(text or "", _always, [], [])
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    reserved = [t for node in tree.find_data("reserved") if isinstance(t := node.children[0], Token)]
    if reserved:
        word = min(reserved, key=lambda t: t.start_pos or 0)
        raise JqlError(
            f"Error in the JQL Query: Expecting either a value, list or function but got '{word}'. "
            f"You must surround '{word}' in quotation marks to use it as a value. "
            f"{_position(text, word.line, word.column)}"
        )
    compiler = _Compiler(data, now, current_user)
    pred, sort_keys = compiler.query(tree)
    return JqlQuery(text, pred, sort_keys, compiler.field_ids)
