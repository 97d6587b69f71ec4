"""Surface discovery: which torch APIs safetensors' entry points touch (``python -m conformance.surface``)."""
