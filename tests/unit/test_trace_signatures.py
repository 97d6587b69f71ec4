"""The (name, dtype, rank) signatures of a recording (conformance/trace/signatures.py): what the isolated
replay cases are made of; calls that cannot be replayed make none."""
from __future__ import annotations

import ast

from conformance.trace import signatures as sigs


def T(dtype="float32", rank=2):
    return {"k": "tensor", "dtype": dtype, "shape": [2] * rank}


def call(api, *args, phase="forward", n=0, **kwargs):
    return {"api": api, "phase": phase, "args": list(args), "kwargs": kwargs, "n": n}


def test_replayable_calls_group_by_name_dtype_and_rank():
    calls = [call("torch.Tensor.reshape", T()), call("torch.Tensor.reshape", T(rank=3)),
             call("torch.Tensor.reshape", T()), call("torch.add", T("float16"), T()),
             call("torch._private", T()), call("torch.randn", T()), call("torch.zeros", {"k": "int", "v": 2}),
             call("torch.mul", T(), phase="backward")]
    got = sigs.by_signature(calls, "forward")
    assert sorted(got) == [("Tensor.reshape", "float32", 2), ("Tensor.reshape", "float32", 3),
                           ("torch.add", "float16", 2)]
    assert len(got[("Tensor.reshape", "float32", 2)]) == 2


def test_calls_of_several_phases_alternate_so_the_first_ones_come_from_every_pass():
    calls = [call("torch.add", T(), n=i) for i in range(3)] + \
            [call("torch.add", T(), phase=sigs.MASKED_PHASE, n=10 + i) for i in range(2)]
    (only,) = sigs.by_signature(calls).values()
    assert [c["n"] for c in only] == [0, 10, 1, 11, 2]


def test_the_phase_a_chain_replays():
    assert sigs.replayed_phase([call("a", phase="script"), call("b", phase="forward")]) == "forward"
    assert sigs.replayed_phase([call("a", phase="script")]) == "script"
    assert sigs.replayed_phase([]) is None
    assert sigs.replayed_phases([call("a", phase=sigs.MASKED_PHASE), call("a")]) == sigs.FORWARD_PHASES
    assert sigs.replayed_phases([call("a", phase="script")]) == ("script",)


def test_the_rendered_list_is_python_that_holds_the_tables():
    tables = {"gpt2": [("Tensor.reshape", "float32", 2, "float32", 4.0)]}
    text = sigs.render(tables, {"torch": "2.13.0"})
    tree = ast.parse(text)
    values = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)}
    assert values == {"VERSIONS": {"torch": "2.13.0"}, "SIGNATURES": tables}
