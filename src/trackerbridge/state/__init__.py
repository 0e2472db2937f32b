"""The state store: what trackerbridge remembers between runs (watermarks, what it wrote, run
history, the write audit log, the last read of every record, notes posted). Only this package and
the connectors do I/O."""
