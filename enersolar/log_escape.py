"""Log lines a visitor cannot forge: control characters in a message (a form
code with a newline, say) are written as escapes, never as a new line."""

import logging
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _escape(match: re.Match) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


class EscapeControlCharacters(logging.Filter):
    """On a handler: the message, once formatted, with its control characters
    escaped (`\\n`, `\\x00`…). Tracebacks are left as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _CONTROL.search(message):
            record.msg, record.args = _CONTROL.sub(_escape, message), None
        return True
