"""The grids' one error type."""


class GridError(ValueError):
    """A grid file or a ``--only`` filter that cannot be used, with what is wrong and where."""
