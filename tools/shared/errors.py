"""The one refusal the host programs share."""


class ToolError(Exception):
    """An expected failure (bad input, a missing tool, a meter that refuses): the program
    prints it as one line and exits 1. Subclasses say which program or step refused."""
