"""The TUI's widgets: each owns its keys and the messages it posts."""
