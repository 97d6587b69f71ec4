"""Evidence told in words (conformance/digest_words.py): a reader sees what a call returned, never a digest
spelled raw (``S 24 ? ~a0``), and where both sides returned a tensor or a storage, only what differs."""
from __future__ import annotations

import re

from conformance.digest_words import contrast, tell, words

_RAW = re.compile(r"\bS \d+ |\bT \w+ \[|~a\d|=a\d|\b[0-9a-f]{8}\b|0x1\.")


def _evidence(api: str, target: str, oracle: str, how: str = "given what the oracle's was given") -> str:
    return f"call #3 {api}: {how}, the target's gave {target} where the oracle's gave {oracle}"


def test_a_storage_that_is_not_its_tensors_memory_is_told_as_such():
    text = tell(_evidence("Tensor.untyped_storage", "S 24 ?", "S 24 00000000 ~a0"))
    assert text == ("call #3 Tensor.untyped_storage: given the same inputs as torch's, the target's returned a storage "
                    "of 24 bytes that shares no memory with its inputs, where torch's shares the memory of the tensor "
                    "it was called on")


def test_a_storage_of_another_size():
    assert contrast("S 24 ? ~a0", "S 0 00000000 ~a0", "Tensor.untyped_storage") == \
        "the target's returned a storage of 24 bytes, where torch's has 0 bytes"


def test_tensors_say_only_the_fields_that_differ():
    assert contrast("T float32 [2,2] [2,1] 0 7d4bfc73 ~a0", "T float32 [2,2] [4,2] 0 167a3367 ~a0", "Tensor.reshape") == \
        ("the target's returned a float32 tensor of shape [2, 2] with strides [2, 1] and other bytes than torch's, "
         "where torch's has strides [4, 2]")
    assert contrast("T int64 [3] [1] 0 11111111", "T float32 [3] [1] 0 22222222", "torch.tensor") == \
        "the target's returned a tensor of shape [3] with dtype int64 and other bytes than torch's, where torch's has dtype float32"


def test_a_field_one_side_could_not_read_is_no_difference_and_uninitialized_bytes_are_not_compared():
    assert contrast("T float32 [2,0] [0,1] 0 -", "T float32 [2,0] [1,1] 0 -", "torch.empty") == \
        "the target's returned a float32 tensor of shape [2, 0] with strides [0, 1], where torch's has strides [1, 1]"
    assert "bytes" not in contrast("T float32 [2] [1] 0 ?", "T float32 [2] [2] 0 12345678")


def test_arguments_are_named_as_the_caller_wrote_them():
    assert contrast("T bool [2,3] [3,1] 0 62472970", "T bool [2,3] [3,1] 0 62472970 ~a0", "torch.from_numpy").endswith(
        "where torch's shares the memory of its first argument")
    assert contrast("T bool [2] [1] 0 62472970", "T bool [2] [1] 0 62472970 ~a1", "Tensor.view_as").endswith(
        "where torch's shares the memory of its first argument")
    assert contrast("T bool [2] [1] 0 62472970", "T bool [2] [1] 0 62472970 =a0", "Tensor.to").endswith(
        "where torch's is the very object that is the tensor it was called on")


def test_other_results_in_their_own_spelling():
    assert contrast("raises TypeError", "S 64 ffbae609", "UntypedStorage.from_file") == \
        "the target's raised TypeError where torch's returned a storage of 64 bytes"
    assert contrast("16256", "0x1.0000000000000p+0") == "the target's returned 16256 where torch's returned 1.0"
    assert contrast("l[l[16256, 49184]]", "l[l[0x1.0000000000000p+0, -0x1.4000000000000p+1]]") == \
        "the target's returned [[16256, 49184]] where torch's returned [[1.0, -2.5]]"
    assert words("np <u2 [7] #06b27163") == "a numpy array of uint16 of shape [7]"
    assert words("version:frombuffer") == "a version that takes safetensors' frombuffer loading path"
    assert words("missing") == "nothing (no such attribute)"
    assert words("ptr+16") == "the address of its storage + 16 bytes"
    assert words("dt:bfloat16") == "the dtype bfloat16"
    assert words("l[T uint8 [2] [1] 0 00000000, T uint8 [4] [1] 2 11111111] ~a0:2", "torch.split") == \
        ("a list of 2: a uint8 tensor of shape [2], strides [1], storage offset 0; a uint8 tensor of shape [4], "
         "strides [1], storage offset 2, 2 of them sharing the memory of its first argument")


def test_no_digest_reaches_the_reader_from_the_blame_rules_evidence():
    cases = [("Tensor.untyped_storage", "S 24 ? ~a0", "S 0 00000000 ~a0"),
             ("Tensor.clone", "T float32 [3,2] [4,2] 0 28e66f95", "T float32 [3,2] [2,1] 0 28e66f95"),
             ("Tensor.item", "16256", "0x1.0000000000000p+0"),
             ("torch.zeros", "T bfloat16 [3,0] [0,1] 0 00000000", "T bfloat16 [3,0] [1,1] 0 00000000")]
    for api, t, o in cases:
        text = tell(_evidence(api, t, o))
        assert not _RAW.search(text), text
        assert text.startswith(f"call #3 {api}: given the same inputs as torch's, the target's ")


def test_other_text_and_evidence_cut_short_stay_as_they_are():
    for text in ("builtins.AttributeError: module 'mindtorch_v2' has no attribute 'nn'",
                 _evidence("Tensor.clone", "T float32 [3,2] [4,2] 0 28e66f95", "T float32 [3,2] [2,1] 0 28e...")):
        assert tell(text) == text
    assert tell(_evidence("torch.__version__", "version:frombuffer", "version:storage", how="read")) == \
        ("call #3 torch.__version__: read, the target's returned a version that takes safetensors' frombuffer loading "
         "path where torch's returned a version that takes safetensors' storage loading path")
