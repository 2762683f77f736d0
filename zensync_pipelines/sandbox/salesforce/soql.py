"""A parser for the SOQL subset a sync engine uses; anything outside it is MALFORMED_QUERY, never ignored.

SELECT field, Parent.Field | COUNT() FROM Type [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]; cond combines =, !=, <>, <, >, <=, >=, [NOT] IN (...), LIKE with AND, OR, NOT and parentheses;
literals are 'strings', numbers, true/false, null, dates and datetimes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from .errors import ApiError
from .values import parse_datetime

_TOKEN = re.compile(
    r"""\s*(?:
     (?P<string>'(?:[^'\\]|\\.)*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2})
    |(?P<number>-?\d+(?:\.\d+)?)
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<punct>[(),])
    |(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.X,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


@dataclass
class Literal:
    kind: str  # string, number, boolean, null, date, datetime
    value: Any


@dataclass
class Order:
    path: str
    descending: bool = False
    nulls_last: bool = False


@dataclass
class Query:
    sobject: str
    fields: list[str] = field(default_factory=list)
    count: bool = False
    where: Optional[tuple] = None  # ("and"|"or", [..]) ("not", c) ("cmp", path, op, Literal) ("in", path, [..], negate)
    order: list[Order] = field(default_factory=list)
    limit: Optional[int] = None
    offset: int = 0


def malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", message)


class _Parser:
    def __init__(self, text: str):
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.rstrip()
        while position < len(text):
            found = _TOKEN.match(text, position)
            if not found or found.end() == position:
                raise malformed(f"unexpected token: '{text[position:].split()[0]}'")
            kind = found.lastgroup or ""
            self.tokens.append((kind, found.group(kind)))
            position = found.end()
        self.index = 0

    # -- token helpers -----------------------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> tuple[str, str]:
        position = self.index + offset
        return self.tokens[position] if position < len(self.tokens) else ("end", "")

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "ident" and value.upper() in words:
            self.index += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise malformed(f"expecting '{word}', found '{self.peek()[1] or 'end of query'}'")

    def expect(self, kind: str, value: Optional[str] = None) -> str:
        found_kind, found = self.peek()
        if found_kind != kind or (value is not None and found != value):
            raise malformed(f"unexpected token: '{found or 'end of query'}'")
        self.index += 1
        return found

    # -- grammar -----------------------------------------------------------------------------------------------
    def query(self) -> Query:
        self.expect_keyword("SELECT")
        query = Query(sobject="")
        if self.peek()[1].upper() == "COUNT" and self.peek(1) == ("punct", "("):
            self.index += 1
            self.expect("punct", "(")
            self.expect("punct", ")")
            query.count = True
        else:
            query.fields.append(self.expect("ident"))
            while self.peek() == ("punct", ","):
                self.index += 1
                query.fields.append(self.expect("ident"))
        self.expect_keyword("FROM")
        query.sobject = self.expect("ident")
        if self.keyword("WHERE"):
            query.where = self.disjunction()
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            query.order.append(self.order_item())
            while self.peek() == ("punct", ","):
                self.index += 1
                query.order.append(self.order_item())
        if self.keyword("LIMIT"):
            query.limit = self.integer()
        if self.keyword("OFFSET"):
            query.offset = self.integer()
        if self.peek()[0] != "end":
            raise malformed(f"unexpected token: '{self.peek()[1]}'")
        return query

    def integer(self) -> int:
        text = self.expect("number")
        if not text.isdigit():
            raise malformed(f"unexpected token: '{text}'")
        return int(text)

    def order_item(self) -> Order:
        item = Order(self.expect("ident"))
        if self.keyword("DESC"):
            item.descending = True
        else:
            self.keyword("ASC")
        item.nulls_last = item.descending  # Salesforce's defaults: ASC NULLS FIRST, DESC NULLS LAST
        if self.keyword("NULLS"):
            if self.keyword("LAST"):
                item.nulls_last = True
            else:
                self.expect_keyword("FIRST")
                item.nulls_last = False
        return item

    def disjunction(self) -> tuple:
        parts = [self.conjunction()]
        while self.keyword("OR"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def conjunction(self) -> tuple:
        parts = [self.negation()]
        while self.keyword("AND"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def negation(self) -> tuple:
        if self.keyword("NOT"):
            return ("not", self.negation())
        if self.peek() == ("punct", "("):
            self.index += 1
            inner = self.disjunction()
            self.expect("punct", ")")
            return inner
        return self.comparison()

    def comparison(self) -> tuple:
        path = self.expect("ident")
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            self.expect("punct", "(")
            values = [self.literal()]
            while self.peek() == ("punct", ","):
                self.index += 1
                values.append(self.literal())
            self.expect("punct", ")")
            return ("in", path, values, negate)
        if negate:
            raise malformed(f"unexpected token: '{self.peek()[1]}'")
        if self.keyword("LIKE"):
            return ("like", path, self.literal())
        operator = self.expect("op")
        return ("cmp", path, "!=" if operator == "<>" else operator, self.literal())

    def literal(self) -> Literal:
        kind, text = self.peek()
        self.index += 1
        if kind == "string":
            return Literal("string", re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1]))
        if kind == "number":
            return Literal("number", float(text))
        if kind == "date":
            return Literal("date", text)
        if kind == "datetime":
            return Literal("datetime", parse_datetime(text))
        if kind == "ident" and text.lower() in ("true", "false"):
            return Literal("boolean", text.lower() == "true")
        if kind == "ident" and text.lower() == "null":
            return Literal("null", None)
        raise malformed(f"unexpected token: '{text or 'end of query'}'")


def parse(text: str) -> Query:
    return _Parser(text).query()
