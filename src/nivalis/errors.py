"""The one exception type for user mistakes: the CLI prints it as `error: ...` and exits 2."""


class UserError(ValueError):
    """A mistake the user can fix (missing file, wrong format, unknown model, bad value).

    The message must be one line and name the offending thing (path, value, option).
    """
