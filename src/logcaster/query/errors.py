"""The one error of the query layer."""


class QueryError(ValueError):
    """A query that cannot run; the message is what the user is told, as every
    frontend shows it (the line port as ``ERROR: <message>``)."""
