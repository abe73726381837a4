"""What both layers use: the error hierarchy, the program's own directories, atomic file writing
and the transcript message. Imports nothing from `intents` or `voice`."""
