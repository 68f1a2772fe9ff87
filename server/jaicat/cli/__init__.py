"""Command line: `jaicat <command>` (main.py). Thin: parse, call the domain, print.

One module per concept (photos, people, search, pipeline, suggest, xmp, devices, backup, web)
contributes subcommands through `register(subparsers)`; handlers take `(args, runtime)` (the command's
runtime.Runtime: `runtime.open()` opens the catalogue and keeps XMP sidecars in step,
`runtime.connect()` also lets the suggester learn) and return an exit code. Domain errors print
`error: ...` and exit 2.
"""
