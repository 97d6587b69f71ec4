"""Tiny HuggingFace models for the ``transformers_e2e`` cases, made locally with REAL torch.

ALBERT, BERT and GPT-2 from small configs (2 layers, hidden 32, vocab 100, seed 0), each saved with
``save_pretrained`` as safetensors; BERT with a small ``max_shard_size`` so that an index file and
several shards are loaded. Nothing is downloaded.

``ensure_models()`` returns the folder holding them, making it first if needed: in a SUBPROCESS
(``python -m conformance.catalog._hf_models make DIR``) that imports real PyTorch, never in a target
process. The folder is keyed by the torch and transformers versions and this recipe, and lives under
``$CONFORMANCE_MODELS_DIR`` or ``$XDG_CACHE_HOME/torch-conformance/models`` (``~/.cache/...``); a
file lock keeps parallel workers from making it twice, and it appears only once complete (made in a
temporary folder, then renamed).

Lives in the catalog folder (leading underscore: not collected) because it decides observations: the
catalog digest, and so the oracle cache key, covers it.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..cachedir import kit_importable, made_once
from ..dists import dist_version, oracle_torch_version

ENV_DIR = "CONFORMANCE_MODELS_DIR"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}

# name -> (config class, config, model class that is saved, Auto class that loads it, max_shard_size)
RECIPES: dict[str, dict[str, Any]] = {
    "albert": {"config_class": "AlbertConfig", "model_class": "AlbertForMaskedLM", "auto": "AutoModelForMaskedLM",
               "config": {"vocab_size": 100, "embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "intermediate_size": 37, "max_position_embeddings": 64}},
    "bert": {"config_class": "BertConfig", "model_class": "BertModel", "auto": "AutoModel",
             "config": {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                        "intermediate_size": 37, "max_position_embeddings": 64},
             "max_shard_size": "30KB"},
    "gpt2": {"config_class": "GPT2Config", "model_class": "GPT2LMHeadModel", "auto": "AutoModelForCausalLM",
             "config": {"vocab_size": 100, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64,
                        "bos_token_id": 1, "eos_token_id": 1}},
}
SEED = 0


class ModelsError(RuntimeError):
    """The models could not be made (an environment problem, not the target's)."""


def root() -> Path:
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "torch-conformance" / "models"


def key() -> str:
    recipe = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    return f"torch-{oracle_torch_version()}_transformers-{dist_version('transformers')}_{recipe}"


def ensure_models(timeout: float = 600.0) -> Path:
    """The folder with one sub-folder per recipe, made (once, under a lock) if missing."""
    def make_into(tmp: Path) -> None:
        env = kit_importable({**os.environ, **OFFLINE})
        proc = subprocess.run([sys.executable, "-m", "conformance.catalog._hf_models", "make", str(tmp)],
                              capture_output=True, text=True, timeout=timeout, env=env, cwd=str(tmp))
        if proc.returncode != 0 or not (tmp / "manifest.json").is_file():
            raise ModelsError(f"making the tiny models with real torch failed (exit {proc.returncode}): "
                              + (proc.stderr or proc.stdout)[-1500:])

    return made_once(root() / key(), "manifest.json", make_into)



def make(out: Path) -> None:
    """Child side: real torch, real transformers; save every recipe under ``out/<name>``."""
    import inspect

    from conformance.backends.base import real_torch_dir
    torch_dir = real_torch_dir()
    import torch
    if not torch_dir or not str(getattr(torch, "__file__", "")).startswith(torch_dir):
        raise SystemExit(f"not real torch: import torch gave {getattr(torch, '__file__', torch)!r}")
    import transformers

    manifest: dict[str, Any] = {"torch": torch.__version__, "transformers": transformers.__version__, "models": {}}
    for name, r in RECIPES.items():
        torch.manual_seed(SEED)
        config = getattr(transformers, r["config_class"])(**r["config"])
        model = getattr(transformers, r["model_class"])(config).eval()
        kw: dict[str, Any] = {}
        params = inspect.signature(model.save_pretrained).parameters
        if "safe_serialization" in params:      # 4.x; 5.x writes safetensors only
            kw["safe_serialization"] = True
        if r.get("max_shard_size"):
            kw["max_shard_size"] = r["max_shard_size"]
        model.save_pretrained(str(out / name), **kw)
        files = sorted(p.name for p in (out / name).iterdir())
        shards = [f for f in files if f.endswith(".safetensors")]
        if not shards or (r.get("max_shard_size") and (len(shards) < 2 or "model.safetensors.index.json" not in files)):
            raise SystemExit(f"{name}: expected {'several shards and an index' if r.get('max_shard_size') else 'a safetensors file'}, got {files}")
        manifest["models"][name] = {"files": files, "sha256": {
            f: hashlib.sha256((out / name / f).read_bytes()).hexdigest() for f in files}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        os.environ.update(OFFLINE)
        make(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: python -m conformance.catalog._hf_models make DIR")
