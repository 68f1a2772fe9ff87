"""What a `jaicat` command that changes things does, done by whoever owns the data directory: the
command's own process when no server runs (it holds the data directory's lock), else the running
server (`POST /api/local/...`, accepted only with the local credential from this machine), so that
the server's own objects - its suggester and review queue, search indexes, analysis worker and
websocket - do the change and know it at once.

Each command is one kind (base.Kind): a check of its parameters and one function
`work(runtime, params, progress) -> dict` (a JSON result the command prints the same way wherever
it ran). The kinds live beside the rooms they change (photos, people, suggest, analysis):

    params = check("import", {"paths": ["/home/amy/Photos"], "device": None})   # InvalidInput if bad
    result = run("import", runtime, params, progress)        # here, in this process
    job = runtime.commands.start("import", params)           # the server, long work: a Job row, in order
    runtime.commands.result(job.id)                          # its result once the job is done
    result = run("tags", runtime, check("tags", body))       # the server, short work: in the request

`progress(done, total, stage)` moves the job (`done`, `total`, `message` = stage; `job.progress`
events). Input that turns out bad only while working (a file that is not a learning log) fails the
job with the reason as its message, the same message the command prints when it works alone.
"""

from __future__ import annotations

from .base import Kind, Progress
from .jobs import Commands
from .registry import KINDS, check, kind, route, run

__all__ = ["Commands", "KINDS", "Kind", "Progress", "check", "kind", "route", "run"]
