"""The package's one exception type."""


class Error(Exception):
    """A failure reported by libvfrobust or found by the binding before calling it.

    str(e) is the one-line message ("FILE: what is wrong"); e.code the library's vfr_status
    (1 invalid argument, 2 I/O, 3 format, 4 memory, 5 limit, 6 unsupported, 7 internal)."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.message = message
        self.code = code
