"""Ground truth of the unseen mutants (written before looking at how the kit blames them): for each
mutant module in this folder, the API that deviates, as the catalog spells APIs, and the other
spellings that name the same API. A red row's cause names the deviating API when its cause.api is one
of these. Read by benchmarks/verdicts.py (--truth) and tests/test_mutants.py.

Run one as: python -m conformance run --target module:NAME --backend-path tests/mutants/unseen
"""
from __future__ import annotations

# name: (kind, deviating API, other spellings of that API)
TRUTH: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "mutant_layout_str": ("property", "Tensor.layout", ()),
    "mutant_tensor_device_cpu0": ("property", "Tensor.device", ()),
    "mutant_shape_tuple": ("property", "Tensor.shape", ()),
    "mutant_device_str_class": ("dunder", "torch.device", ("torch.device.__eq__",)),
    "mutant_contains_skips_last": ("dunder", "Tensor.__contains__", ()),
    "mutant_radd_float64": ("reflected operator", "Tensor.__radd__", ()),
    "mutant_copy_offset_view": ("in-place op", "Tensor.copy_", ()),
    "mutant_add_inplace_returns_copy": ("in-place op", "Tensor.add_", ()),
    "mutant_mul_inplace_out_of_place": ("in-place op", "Tensor.mul_", ()),
    "mutant_storage_nbytes_aligned": ("storage method", "UntypedStorage.nbytes", ("torch.UntypedStorage.nbytes",)),
    "mutant_storage_getitem_shifted": ("storage bytes", "UntypedStorage.__getitem__",
                                       ("torch.UntypedStorage.__getitem__",)),
    "mutant_clone_ignores_offset": ("fault only at a storage offset", "Tensor.clone", ()),
    "mutant_transpose_copies": ("copy where torch returns a view", "Tensor.transpose", ()),
    "mutant_detach_copies": ("copy where torch returns a view", "Tensor.detach", ()),
    "mutant_untyped_storage_copies": ("copy where torch aliases", "Tensor.untyped_storage", ()),
    "mutant_view_shape_copies": ("copy where torch raises", "Tensor.view(shape)", ("Tensor.view(-1)", "Tensor.view")),
    "mutant_version_object": ("non-str __version__", "torch.__version__", ()),
    "mutant_device_function": ("torch.device not a class", "torch.device", ()),
    "mutant_load_state_dict_none": ("torch.nn.Module method", "nn.Module.load_state_dict",
                                    ("torch.nn.Module.load_state_dict",)),
    "mutant_state_dict_clones": ("torch.nn.Module method", "nn.Module.state_dict", ("torch.nn.Module.state_dict",)),
    "mutant_data_ptr_exit_float16": ("crash inside a call an entry point makes", "Tensor.data_ptr", ()),
    "mutant_tanh_strided_scrambled": ("elementwise math on strided inputs", "torch.tanh", ()),
}


def accepted(name: str) -> set[str]:
    """Every spelling of the API mutant ``name`` breaks."""
    _, api, also = TRUTH[name]
    return {api, *also}


# Deviations no row reaches: nothing safetensors or the kit's workloads do meets them (checked against their
# code, transformers 4.57.6 and safetensors 0.8.0), so no row turns red and their precision is not measured.
UNREACHED: dict[str, str] = {
    "mutant_contains_skips_last": "transformers' only `x in t` is warn_if_padding_and_no_attention_mask's "
                                  "`pad_token_id in input_ids[:, [-1, 0]]`, and the workloads' input ids do not start "
                                  "with the pad token (no left padding without an attention mask): the skipped last "
                                  "element is never the one found. A left-padded batch without a mask would reach it; "
                                  "no case has one yet",
    "mutant_copy_offset_view": "every copy_ the kit and its workloads make (load_state_dict, the tied model's "
                               "weights) writes into a parameter at storage offset 0; no case copies into a view "
                               "that starts inside its storage",
    "mutant_add_inplace_returns_copy": "add_'s result is never used: SGD's step calls param.add_(grad, alpha=-lr) "
                                       "for its effect, which is right; the forward passes make no add_ call and "
                                       "safetensors none at all",
}

