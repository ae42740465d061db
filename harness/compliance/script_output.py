"""The text an MLPerf verification script leaves in verify_*.txt.

``run_verification.py`` runs each script with stdout and stderr sent to one
pipe and copies what arrives into the file. Python buffers a piped stdout
until exit but writes stderr at once, so when a script stops with
``sys.exit("TEST FAIL: ...")`` the file holds that message *before* the lines
the script printed earlier. ``ScriptOutput`` keeps the two streams apart and
renders them in that order. (The scripts' ``log_parser`` INFO lines, on stderr
with a timestamp, are not reproduced: no checker reads them.)
"""
from __future__ import annotations


class ScriptOutput:
    def __init__(self) -> None:
        self.stdout: list[str] = []
        self.stderr: list[str] = []

    def print(self, text: str = "") -> None:
        self.stdout.append(f"{text}\n")

    def exit(self, message: str) -> None:
        """``sys.exit(message)``: the caller returns right after."""
        self.stderr.append(f"{message}\n")

    @property
    def passed(self) -> bool:
        """The check run_verification.py makes: "TEST PASS" anywhere in the file."""
        return "TEST PASS" in self.text()

    def text(self) -> str:
        return "".join(self.stderr) + "".join(self.stdout)
