"""Executors: where a try runs. `local` runs each try as a child process on this host; the fork
server and the process-tree helpers it uses live beside it."""
