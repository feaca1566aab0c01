"""iCalendar text as content lines for icalendar's parser, each line quicker to split than its own.

icalendar's parser takes its input as text or as a list of content lines (``ComponentIcalParser``).
Splitting a line (``Contentline.raw_parts``) walks every character in Python, the value's too, to
find where the name and the parameters end, and builds two ``Parameters`` for every line, though
most lines have no parameter at all. Here a line whose name part (the text before its first colon)
holds no quote, backslash, semicolon or blank is split with ``str.find``. A line with parameters
and no quote or backslash before its first colon has its parameters split with ``str.split`` when
they hold nothing icalendar would transform (a list of values, an RFC 6868 caret, a percent sign,
blanks beside a delimiter), and otherwise only that part walked by icalendar. The parts are the
ones icalendar finds (``tests/test_ical_content_lines.py`` compares them); any other line, and any
line either way finds fault with, is icalendar's own.
"""

from __future__ import annotations

from icalendar.parser import Parameters, validate_token
from icalendar.parser.content_line import NEWLINE, UFOLD, Contentline
from icalendar.parser.parameter import validate_param_value

# What, in the text before a line's first colon, means its parts need icalendar's whole walk (a
# quote: that colon may be inside a quoted parameter value; a backslash: it may be escaped), or its
# parameter parsing (a semicolon), or the name's blanks removed (a space or a tab).
_PARAMETERS = ";"
_WALK = ('"', "\\")
_BLANKS = (" ", "\t")
# In a parameter section, what icalendar transforms: a comma (a list of values), a caret (RFC 6868
# escapes), a percent sign (its own escape markers), a tab (blanks it strips).
_PARAMETER_MARKS = (",", "^", "%", "\t")
# Blanks beside a delimiter, which icalendar's lenient parse strips.
_LOOSE_BLANKS = (" ;", "; ", " =", "= ")


class QuickContentline(Contentline):
    """A ``Contentline`` whose ``raw_parts`` (and so ``parts``) takes the short way where it may."""

    __slots__ = ()

    def raw_parts(self) -> tuple[str, Parameters, str]:
        colon = self.find(":")
        if colon <= 0:
            return super().raw_parts()
        head = self[:colon]
        if any(mark in head for mark in _WALK):
            return super().raw_parts()
        if _PARAMETERS in head:
            quick = None if self.strict else _plain_parameters(head)
            if quick is not None:
                return quick[0], quick[1], self[colon + 1 :]
            # icalendar walks the name and parameters only: the rest of the line cannot change them.
            try:
                name, params, _ = Contentline(self[: colon + 1], strict=self.strict).raw_parts()
            except ValueError:
                return super().raw_parts()  # its error, naming the whole line
            return name, params, self[colon + 1 :]
        if any(blank in head for blank in _BLANKS):
            return super().raw_parts()
        try:
            validate_token(head)
        except ValueError:
            return super().raw_parts()
        return head, Parameters(), self[colon + 1 :]


def _plain_parameters(head: str) -> tuple[str, Parameters] | None:
    """The name and parameters of ``head`` (a line's text before its first colon, with no quote or
    backslash) as icalendar's lenient parse reads them, when each parameter is ``KEY=value`` with a
    single value icalendar leaves as it is; None for any other (icalendar's own walk reads it)."""
    name, _, section = head.partition(";")
    if not section or any(mark in section for mark in _PARAMETER_MARKS):
        return None
    if " " in section and (section != section.strip() or any(b in section for b in _LOOSE_BLANKS)):
        return None
    if any(blank in name for blank in _BLANKS):
        return None
    params = Parameters()
    try:
        validate_token(name)
        for parameter in section.split(";"):
            key, equals, value = parameter.partition("=")
            if not equals or not value:
                return None
            validate_token(key)
            validate_param_value(value, quoted=False)
            params[key] = value
    except ValueError:
        return None
    return name, params


def content_lines(text: str) -> list[Contentline]:
    """``text`` unfolded into lines, as ``icalendar.parser.Contentlines.from_ical`` makes them."""
    lines: list[Contentline] = [QuickContentline(line) for line in NEWLINE.split(UFOLD.sub("", text)) if line]
    lines.append(Contentline(""))  # '\r\n' at the end of every content line
    return lines
