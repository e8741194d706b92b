"""Frontend: Python source -> the untyped tree (`untyped`), by `parse.parse_kernel`."""
