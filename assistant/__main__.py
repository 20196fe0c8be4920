"""``python -m assistant`` is ``coach``."""

from assistant.cli import main

main()
