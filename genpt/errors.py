"""The one exception type the command line turns into a clean one-line error."""


class GenptError(Exception):
    """Bad input from the user: a file, line or option that is not what was expected.

    The message is a single line naming the culprit and what was expected; the CLI prints
    it as `genpt <command>: error: <message>` and exits with status 2.
    """
