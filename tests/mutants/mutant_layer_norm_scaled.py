"""Real torch, except torch.nn.functional.layer_norm: its output is 0.1% too large.

ALBERT, BERT and GPT-2 call it (through nn.LayerNorm) in their forward pass; nothing in safetensors
does. The chained replay must name the first layer_norm call of each model, with its caller's line.
"""
import sys

import torch
import torch.nn.functional as F

_layer_norm = F.layer_norm


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    return _layer_norm(input, normalized_shape, weight, bias, eps) * 1.001


F.layer_norm = layer_norm
sys.modules[__name__] = torch
