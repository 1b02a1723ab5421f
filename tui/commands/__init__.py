"""One module per `listsync` subcommand."""
