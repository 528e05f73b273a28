"""`python -m bench.serve FACTORY PORT WORKERS`: an app factory under uvicorn with the options
`tenwatch serve` gives it (server.cli.uvicorn_options), so the bench measures the sockets the
service serves; quieter logs."""

import sys

import uvicorn

from server.cli import uvicorn_options
from server.settings import get_settings


def main() -> None:
    """Serve FACTORY on 127.0.0.1:PORT with WORKERS processes."""
    factory, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    uvicorn.run(
        factory,
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        **uvicorn_options(get_settings()),
    )


if __name__ == "__main__":
    main()
