"""iCalendar text as content lines for icalendar's parser, each line quicker to split than its own.

icalendar's parser takes its input as text or as a list of content lines (``ComponentIcalParser``).
Splitting a line (``Contentline.raw_parts``) walks every character in Python, the value's too, to
find where the name and the parameters end, and builds two ``Parameters`` for every line, though
most lines have no parameter at all. Here a line whose name part (the text before its first colon)
holds no quote, backslash, semicolon or blank is split with ``str.find``; a line with parameters
and no quote or backslash before its first colon has only that part walked by icalendar. The
parts are the ones icalendar finds (``tests/test_ical_content_lines.py`` compares them); any other
line, and any line either way finds fault with, is icalendar's own. It saves about a fifth of the
parse of an invitation.
"""

from __future__ import annotations

from icalendar.parser import Parameters, validate_token
from icalendar.parser.content_line import NEWLINE, UFOLD, Contentline

# What, in the text before a line's first colon, means its parts need icalendar's whole walk (a
# quote: that colon may be inside a quoted parameter value; a backslash: it may be escaped), or its
# parameter parsing (a semicolon), or the name's blanks removed (a space or a tab).
_PARAMETERS = ";"
_WALK = ('"', "\\")
_BLANKS = (" ", "\t")


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


def content_lines(text: str) -> list[Contentline]:
    """``text`` unfolded into lines, as ``icalendar.parser.Contentlines.from_ical`` makes them."""
    lines: list[Contentline] = [QuickContentline(line) for line in NEWLINE.split(UFOLD.sub("", text)) if line]
    lines.append(Contentline(""))  # '\r\n' at the end of every content line
    return lines
