"""torch-conformance: does your `import torch` behave like PyTorch where safetensors needs it?"""
__version__ = "0.1.0"
