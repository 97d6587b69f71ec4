"""Trace and replay: record the torch calls of a real workload under real PyTorch, then replay them.

``recorder``   the recording process (real torch only): a TorchFunctionMode plus a module-attribute
               recorder, the built-in workloads (tiny ALBERT, BERT, GPT-2) and user scripts
``store``      the on-disk format: calls as JSON, tensors content-addressed as raw bytes with their
               layout and alignment; reading it needs only numpy and json (a target process never
               imports real torch)
``cache``      recordings cached per (torch, transformers, workload, recorder version), made in a
               real-torch subprocess under a lock
``rules``      which op class an API belongs to and how its outputs are compared
``replay``     the replay engine: one call in isolation, or the whole chain feeding outputs forward
"""
