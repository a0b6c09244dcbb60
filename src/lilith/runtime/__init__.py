"""The shell: all IO (stdio, child processes, files, signals) lives here."""
