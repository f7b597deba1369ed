"""The shared core: errors, config, logging, evidence logs, clock and station layout."""
