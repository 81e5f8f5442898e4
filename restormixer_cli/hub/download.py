"""Hugging Face Hub downloads, checksum-verified, with one-line errors that say what to do.

Caching, ``HF_HOME``, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``, resumption and progress bars are
huggingface_hub's own; nothing here re-implements them.
"""

from __future__ import annotations

import errno
import os
import re
import time
from pathlib import Path

from huggingface_hub import constants as hub_constants
from huggingface_hub import errors as hub_errors
from huggingface_hub import hf_hub_download
from huggingface_hub.utils import HFValidationError, get_session, validate_repo_id

from ..refusals import Refusal
from .layout import CONFIG_NAME, WEIGHTS_NAME, sha256_of

_HINT = "{local_weights}, or set HF_ENDPOINT to a reachable mirror"
_CACHE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.ENOSPC}


class HubError(RuntimeError):
    """A download that failed; the message is one line and names a remedy."""


class DownloadFailed(Refusal, HubError):
    """A download that the hub did not answer or broke off, not cached: weights given another way,
    or a mirror, are the way out."""


def _remove_cached(path: Path) -> None:
    """Delete a cached file: the snapshot link and the blob it points to."""
    blob = Path(os.path.realpath(path))
    Path(path).unlink(missing_ok=True)
    blob.unlink(missing_ok=True)


def _described(exc: Exception, repo_id: str, filename: str, revision: str) -> HubError:
    where = f"{repo_id}@{revision}"
    if isinstance(exc, (hub_errors.OfflineModeIsEnabled, hub_errors.LocalEntryNotFoundError)):
        if hub_constants.is_offline_mode():
            return DownloadFailed("{filename} from {where} is not in the local cache and HF_HUB_OFFLINE is set; "
                                  "unset it or " + _HINT, filename=filename, where=where)
        return DownloadFailed("cannot reach the hub to fetch {filename} from {where} and it is not cached; "
                              "check the network or " + _HINT, filename=filename, where=where)
    if isinstance(exc, hub_errors.GatedRepoError):
        return HubError(f"{where} is gated: accept its terms on the hub and log in (hf auth login)")
    if isinstance(exc, hub_errors.RevisionNotFoundError):
        return HubError(f"revision {revision!r} does not exist in {repo_id}")
    if isinstance(exc, hub_errors.EntryNotFoundError):
        return HubError(f"{where} has no file {filename!r}")
    if isinstance(exc, hub_errors.RepositoryNotFoundError):
        return HubError(f"repository {repo_id!r} not found on the hub (or private: log in with hf auth login)")
    if isinstance(exc, OSError) and exc.errno in _CACHE_ERRNOS:  # the network is not to blame
        return HubError(f"cannot store {filename} from {where} in the hub cache: {exc.strerror} ({exc.filename}); "
                        "set HF_HUB_CACHE (or HF_HOME) to a writable folder with free space")
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DownloadFailed("download of {filename} from {where} failed: {reason}; " + _HINT,
                          filename=filename, where=where, reason=first_line)


_GIT_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|//|@\{|^/|/$|\.lock$|^\.|/\.|^@$")


def check_hub_names(repo_id: str, filename: str, revision: str) -> None:
    """Raise HubError unless the names are ones the hub and git accept: a revision or file name that
    climbs out of a folder (``..``) or is absolute could make a hostile server's answer land outside
    the cache."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise HubError(f"invalid repository id {repo_id!r}: {str(exc).splitlines()[0]}") from None
    if not revision or len(revision) > 255 or _GIT_REF_FORBIDDEN.search(revision):
        raise HubError(f"invalid revision {revision!r}: use a branch, tag or commit name as git accepts them")
    parts = filename.split("/")
    if (not filename or filename.startswith("/") or "\\" in filename or any(p in ("", ".", "..") for p in parts)
            or any(ord(c) < 32 for c in filename)):
        raise HubError(f"invalid file name {filename!r}: use a path inside the repository")


#: How long the hub may take to answer the reachability check: a working connection answers a HEAD
#: in a few round trips, well within it even over a slow link (TCP and TLS handshakes, and a lost
#: connection request, which TCP sends again after 1 s); a hub silent for longer is not reachable.
ANSWER_TIMEOUT_S = 3.0


def _timed_out(exc: Exception) -> bool:
    """Whether a request failed for want of an answer in time. By class name, because
    huggingface_hub's HTTP client is requests, httpx or httpx2 depending on its version."""
    return any(cls.__name__ in ("Timeout", "TimeoutException", "TimeoutError") for cls in type(exc).__mro__)


def _check_reachable(endpoint: str, where: str, filename: str) -> None:
    """Raise HubError at once when the endpoint does not answer at all: huggingface_hub would retry a
    refused or timed-out connection for about 25 s before giving up. A refused or broken connection
    is tried once more after half a second (a server restarting); a hub that accepts the connection
    but does not answer within ANSWER_TIMEOUT_S is not: asking again would double the wait."""
    for attempt in range(2):
        try:
            get_session().head(endpoint, timeout=ANSWER_TIMEOUT_S)  # any HTTP answer means reachable
            return
        except Exception as exc:  # noqa: BLE001 - transport errors of the hub's HTTP client
            if _timed_out(exc):
                reason = f"no answer within {ANSWER_TIMEOUT_S:g} s"
                break
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if attempt == 0:
                time.sleep(0.5)
    raise DownloadFailed("cannot reach the hub at {endpoint} to fetch {filename} from {where} ({reason}); "
                         "check the network or " + _HINT, endpoint=endpoint, filename=filename, where=where,
                         reason=reason)


def download_file(repo_id: str, filename: str = WEIGHTS_NAME, revision: str = "main", sha256: str | None = None,
                  endpoint: str | None = None, local_files_only: bool = False) -> Path:
    """Path of ``filename`` from the hub cache, downloading it if needed, checksum-verified.

    A file whose sha256 differs from ``sha256`` is deleted from the cache before HubError is raised.
    """
    check_hub_names(repo_id, filename, revision)
    if not local_files_only and not hub_constants.is_offline_mode():
        _check_reachable(endpoint or hub_constants.ENDPOINT, f"{repo_id}@{revision}", filename)
    try:
        path = Path(hf_hub_download(repo_id, filename, revision=revision, endpoint=endpoint,
                                    local_files_only=local_files_only))
    except Exception as exc:  # noqa: BLE001 - the HTTP stack's errors (httpx, h11, ...) vary across versions
        raise _described(exc, repo_id, filename, revision) from None
    if sha256 and sha256_of(path) != sha256.lower():
        _remove_cached(path)
        raise HubError(f"{filename} from {repo_id}@{revision} failed its sha256 check and was removed from the cache; "
                       "retry the download, or report the mismatch if it persists")
    return path


def download_checkpoint(repo_id: str, revision: str = "main", filename: str = WEIGHTS_NAME, sha256: str | None = None,
                        endpoint: str | None = None, local_files_only: bool = False) -> Path:
    """Download weights (and ``config.json`` when the repo has one); returns the weights path."""
    weights = download_file(repo_id, filename, revision, sha256, endpoint, local_files_only)
    try:
        download_file(repo_id, CONFIG_NAME, revision, None, endpoint, local_files_only)
    except HubError:
        pass  # config.json is optional: the configuration is then inferred from the tensor shapes
    return weights
