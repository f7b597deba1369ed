"""VVTV Ops Lab: the library behind vvtvctl, logline and sleepguardd."""

__version__ = "0.1.0"
