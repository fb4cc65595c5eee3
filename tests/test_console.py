"""What the commands print while working (pt2caffe.console): a status line on a terminal, nothing otherwise."""
from pt2caffe.console import Progress


class FakeTerminal:
    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_progress_only_on_a_terminal():
    terminal, pipe = FakeTerminal(True), FakeTerminal(False)
    for stream in (terminal, pipe):
        progress = Progress(stream, interval=0)
        progress.step("tracing")
        progress.count("comparing", 3, 9)
        progress.clear()
    assert pipe.text == ""
    assert terminal.text.startswith("\rtracing") and "\rcomparing 3/9" in terminal.text
    assert terminal.text.endswith("\r")  # cleared before the results are printed
