"""The one exception type that reaches users as a one-line message (the CLI prints it, exits non-zero)."""


class TinygenError(Exception):
    """A problem with what the user gave us: the message says what is wrong and what to do."""


class ToolMissing(TinygenError):
    """A compiler, emulator or library that a target needs is not installed (or has nowhere to be built):
    bad input of the whole command (exit 2), never one target's failed check (verify.run_on_target)."""
