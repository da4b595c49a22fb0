"""The terminal UI: `minorch ui`, and `minorch up` on a terminal. Build it with `app.make_app`."""
