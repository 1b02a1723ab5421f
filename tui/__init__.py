"""listsync's faces: the command line and the Textual terminal app."""
