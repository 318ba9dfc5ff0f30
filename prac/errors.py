"""The one exception type a user sees: a one-line message naming the problem and the fix."""


class PracError(Exception):
    """An error caused by the user's input or environment, shown without a traceback.

    The message is a single line: what is wrong, then what to do about it.
    """
