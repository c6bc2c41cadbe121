"""The exporter's expected failures."""


class ExportError(Exception):
    """An expected problem with the input: reported as one line, exit status 1."""


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that the partial bundle is removed."""
