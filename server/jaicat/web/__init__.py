"""The HTTP and websocket layer: a thin Flask shell over the domain modules (see docs/API.md)."""
