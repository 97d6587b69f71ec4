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
