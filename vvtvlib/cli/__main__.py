"""``python -m vvtvlib.cli`` is ``vvtvctl``."""

from .vvtvctl import main

main()
