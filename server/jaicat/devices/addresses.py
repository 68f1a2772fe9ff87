"""Where the running server can be reached. `jaicat serve` writes its URLs to `<data dir>/server.json`
when it starts (and removes the file when it stops), so `jaicat pair` in another process prints the
addresses and port the server really listens on, not a guess from the settings."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from ..config import Settings
from .tls import lan_addresses

RUNNING_FILE = "server.json"
_WILDCARDS = ("0.0.0.0", "", "::")


def server_urls(settings: Settings) -> list[str]:
    """The URLs phones can open for a server listening on `settings.host:port`: each LAN address and the
    mDNS host name when it listens on every interface, else the one address it listens on."""
    scheme = "https" if settings.https else "http"
    if settings.host in _WILDCARDS:

        hosts = lan_addresses() + [f"{socket.gethostname().split('.')[0]}.local"]
    else:
        hosts = [f"[{settings.host}]" if ":" in settings.host else settings.host]
    return [f"{scheme}://{h}:{settings.port}" for h in hosts]


def write_running(settings: Settings, pid: int | None = None) -> Path | None:
    """Record the serving process and its URLs (atomically: a reader never sees half a file). A record
    of another live server is kept (that server stays the one phones reach; this one is about to be
    refused): returns None then."""
    path = settings.data_dir / RUNNING_FILE
    other = read_running(settings)
    if other is not None and int(other["pid"]) != (pid or os.getpid()):
        return None
    tmp = path.with_suffix(f".{pid or os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": pid or os.getpid(), "urls": server_urls(settings),
                               "https": bool(settings.https), "port": int(settings.port)}), encoding="utf-8")
    os.replace(tmp, path)
    return path


def clear_running(settings: Settings, pid: int | None = None) -> None:
    """Remove the record, only if it is this process's (`pid`, default this one): a second `serve`
    that was refused must not erase the running server's."""
    path = settings.data_dir / RUNNING_FILE
    try:
        if int(json.loads(path.read_text(encoding="utf-8"))["pid"]) != (pid or os.getpid()):
            return
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        pass  # unreadable: nobody can use it
    path.unlink(missing_ok=True)


def read_running(settings: Settings) -> dict | None:
    """What the running server wrote at start, or None when no server of this data dir is running."""
    path = settings.data_dir / RUNNING_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)  # signal 0: is that process still alive?
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(info.get("urls"), list) or not all(isinstance(u, str) for u in info["urls"]):
        return None
    return info
