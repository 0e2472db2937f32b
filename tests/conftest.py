pytest_plugins = ["trackerbridge.sandbox.pytest_plugin"]
