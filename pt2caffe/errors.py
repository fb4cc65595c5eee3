"""The one exception type users see: its message is a single line naming the problem and where."""


class Pt2CaffeError(Exception):
    """A problem in the user's input (model, weights, config, files) or in the target Caffe.

    The CLI prints ``str(error)`` as one line and exits non-zero; ``detail`` holds
    extra text shown only with ``--verbose``.
    """

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail
