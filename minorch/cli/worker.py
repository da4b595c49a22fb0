"""`minorch worker`: a Dask worker that runs minorch tries on this host."""

from __future__ import annotations

from pathlib import Path

import click

from . import main


@main.command()
@click.argument("address")
@click.option("--slots", default=4, show_default=True, type=click.IntRange(1), help="Tries run at once.")
@click.option("--queue", "queues", multiple=True, help="Serve tasks with this queue (repeatable).")
@click.option(
    "--dir",
    "folder",
    default=".minorch-worker",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for this host's tries (claims, logs, exit files).",
)
@click.option("--name", default=None, help="Worker name, stable across restarts [default: host name].")
@click.option("--tls-ca-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="CA certificate.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="This worker's cert.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Its private key.")
@click.option("--allow-insecure", is_flag=True, help="Allow plain TCP to a scheduler on another host.")
def worker(address, slots, queues, folder, name, tls_ca_file, tls_cert, tls_key, allow_insecure) -> None:
    """Run tries sent by `minorch up` with executor = "dask", on this host.

    A thin wrapper over a Dask worker with minorch's plugin: connect to the Dask scheduler at
    ADDRESS (tcp://host:8786, or tls://... with --tls-*), run up to --slots tries at once, and
    take tasks with `queue = "NAME"` when started with --queue NAME. Tries run under a
    supervisor that outlives this process: start the worker again with the same --dir and --name
    and it reports them. The project folder must be at the same path as on the scheduler host.
    """
    import asyncio
    import socket

    from ..config import DaskSettings
    from ..executors.dask import security_for
    from ..executors.dask_worker import serve

    settings = DaskSettings(address, tls_ca_file, tls_cert, tls_key, allow_insecure)
    security = security_for(address, settings, role="worker")
    name = name or socket.gethostname()
    asyncio.run(serve(address, root=folder.resolve(), slots=slots, queues=list(queues), name=name, security=security))
