"""Errors the engine raises for conditions a user can fix; the CLI turns them into one-line messages."""


class PainmonError(Exception):
    """Base class of errors with a message meant for the user."""


class VideoSourceError(PainmonError):
    """A video source is missing, unreadable, or cannot be opened."""


class ModelFileError(PainmonError):
    """A model checkpoint is missing, damaged, or not a painmon checkpoint."""


class WeightsUnavailableError(PainmonError):
    """Pretrained weights could not be downloaded (offline machine) and are not in the local cache."""


class BackendUnavailableError(PainmonError):
    """The requested inference backend cannot run on this machine."""
