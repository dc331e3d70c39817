"""What a ``cnet`` command raises to end with one line on stderr and an exit status."""


class CommandError(Exception):
    """A user error on the command line: printed as one line, exit status 2."""


class Interrupted(Exception):
    """Ctrl-C stopped a command: printed as one line, exit status 130 (128 + SIGINT), and
    nothing is written (a half-trained model is not a trained one)."""


# The shell's statuses for a command that SIGINT or SIGPIPE ended.
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
