"""Domain exceptions. The web layer maps them to JSON 4xx responses in one place (web/errors.py)."""

from __future__ import annotations


class JaicatError(Exception):
    """Base class: `code` is a stable machine-readable name, `status` the HTTP status it maps to."""

    code = "error"
    status = 400

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(JaicatError):
    code = "not_found"
    status = 404


class Conflict(JaicatError):
    code = "conflict"
    status = 409


class InvalidInput(JaicatError):
    code = "invalid_input"
    status = 400


class InvalidText(InvalidInput):
    """Text that would reach XML or the file system holds a control character (jaicat/text.py)."""

    code = "invalid_text"


class BadRequest(InvalidInput):
    """A request's JSON or parameters are malformed (raised by the web layer's input readers)."""

    code = "bad_request"


# --- ingest -------------------------------------------------------------------------------------
class IngestError(JaicatError):
    """A file that cannot become a photo; nothing of it is kept."""

    code = "rejected"
    status = 422


class EmptyFile(IngestError):
    code = "empty_file"


class UnsupportedImage(IngestError):
    code = "unsupported_image"
    status = 415


class CorruptImage(IngestError):
    code = "corrupt_image"


class ImageTooLarge(IngestError):
    code = "image_too_large"
    status = 413


class FileTooLarge(IngestError):
    code = "file_too_large"
    status = 413


class DecodeBusy(JaicatError):
    """The process's decode memory (photos/decode_budget.py) stayed spent while this file waited;
    nothing of it is lost (an upload keeps its bytes and finishes when sent again)."""

    code = "decode_busy"
    status = 503


# --- uploads ------------------------------------------------------------------------------------
class OffsetMismatch(Conflict):
    """A chunk does not start where the server's copy ends; the reply carries the server's offset."""

    code = "offset_mismatch"


class UploadBusy(Conflict):
    """Another chunk of the same upload is arriving."""

    code = "upload_busy"


class ChecksumMismatch(JaicatError):
    code = "checksum_mismatch"
    status = 422


class TooManyUploads(JaicatError):
    code = "too_many_uploads"
    status = 429


class InsufficientStorage(JaicatError):
    """The server's disk cannot hold the upload; said before any byte is stored."""

    code = "insufficient_storage"
    status = 507


# --- library ------------------------------------------------------------------------------------
class PathOutsideLibrary(JaicatError):
    code = "path_outside_library"
    status = 400


class InvalidFolderName(JaicatError):
    code = "invalid_folder_name"
    status = 400


class FileMissing(JaicatError):
    """The photo's file is not where the catalogue says; nothing is changed."""

    code = "file_missing"
    status = 409


class VerifyFailed(JaicatError):
    """A cross-filesystem copy did not hash back to the original; the source is kept."""

    code = "verify_failed"
    status = 500


class NothingToUndo(JaicatError):
    code = "nothing_to_undo"
    status = 409


class DataDirInUse(Conflict):
    """Another process serves this data directory (or a command holds it while `serve` starts)."""

    code = "data_dir_in_use"


class Stopped(Conflict):
    """A command job the running server worked ended early because the server stopped; what it did
    is kept (each file commits on its own)."""

    code = "stopped"


# --- models -------------------------------------------------------------------------------------
class ModelUnavailable(JaicatError):
    code = "model_unavailable"
    status = 503


class ClusterUnavailable(JaicatError):
    """Analysis on a Ray cluster cannot run: Ray missing, the cluster unreachable, workers not starting."""

    code = "cluster_unavailable"
    status = 503


# --- auth ---------------------------------------------------------------------------------------
class Unauthorized(JaicatError):
    code = "unauthorized"
    status = 401


class RateLimited(JaicatError):
    code = "rate_limited"
    status = 429


class ServerRefused(JaicatError):
    """A command asked the running server (cli/remote.py) and it answered with an error the CLI has no
    closer class for; `details["status"]` is the HTTP status."""

    code = "server_refused"


class ServerUnreachable(JaicatError):
    """A command must ask the running server (it holds the data directory) and cannot reach it."""

    code = "server_unreachable"


class LocalOnly(JaicatError):
    """The local credential (devices/local_api.py) sent from a peer that is not this machine."""

    code = "local_only"
    status = 403


class Forbidden(JaicatError):
    """A request from another site (its Origin is not this server), or one that rides on the cookie
    without saying where it comes from."""
    code = "cross_origin"
    status = 403


class PayloadTooLarge(JaicatError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(JaicatError):
    code = "unsupported_media_type"
    status = 415


class TooManySockets(JaicatError):
    code = "too_many_sockets"
    status = 429
