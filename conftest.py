# Running pytest from a checkout: load the kit's plugin (installed runs pass -p conformance.plugin).
pytest_plugins = ["conformance.plugin"]
