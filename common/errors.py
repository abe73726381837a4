"""The one error hierarchy of trust-coach.

Every error the program can explain carries a one-line message that names the thing at fault
(a file, a device, a library entry) and what is wrong with it. The command line prints that line
and exits with the error's code; the listening loop prints it and keeps going.
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2


class TrustCoachError(Exception):
    """A failure we can describe to the person in one line."""

    exit_code = EXIT_INTERNAL


class BadInputError(TrustCoachError):
    """The person gave us something we cannot use: a file, an option, a setting."""

    exit_code = EXIT_BAD_INPUT


class UsageError(BadInputError):
    """The command line does not make sense."""


class _FileProblem(BadInputError):
    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class AudioFileError(_FileProblem):
    """A WAV file that is missing, not a WAV, truncated, empty or in an unsupported encoding."""


class ModelError(_FileProblem):
    """A speech model that is missing, incomplete or cannot be loaded."""


class SentenceModelError(BadInputError):
    """The sentence-embedding model is not installed, or its files cannot be read; the message
    names the file."""


class LibraryError(_FileProblem):
    """A content file (TOML) of the tip library that is broken.

    `where` names the entry and the field, e.g. ``intent "cause.lies", field "reply"``.
    """

    def __init__(self, path: Path | str, problem: str, where: str = "") -> None:
        self.where = where
        super().__init__(path, f"{where}: {problem}" if where else problem)


class SettingsFileError(_FileProblem):
    """The settings file (settings.toml) is not TOML, or has an unknown or ill-typed setting."""


class DeviceError(BadInputError):
    """An audio device that is missing, unplugged or refuses the stream."""


class SpeechOutputError(TrustCoachError):
    """Text-to-speech or playback failed; the caller prints the reply instead."""


class DownloadError(TrustCoachError):
    """A model download that failed or did not match its catalog entry."""
