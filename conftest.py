"""Root pytest configuration shared by tests/ and features/."""

pytest_plugins = ["tests.plugins.system", "tests.plugins.station"]
