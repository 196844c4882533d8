from grove.cli import entry

entry()
