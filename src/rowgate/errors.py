"""The root of rowgate's exception tree."""


class RowgateError(Exception):
    """Base class of every error rowgate raises on purpose."""
