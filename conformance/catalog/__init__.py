"""The conformance cases. Each module is one pytest file; each case one API, one row."""
