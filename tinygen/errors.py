"""The one exception type that reaches users as a one-line message (the CLI prints it, exits non-zero)."""


class TinygenError(Exception):
    """A problem with what the user gave us: the message says what is wrong and what to do."""
