"""Commands: what runs in which order (one library call per CLI subcommand), reports, exit codes."""
