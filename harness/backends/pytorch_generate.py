"""PyTorch text generation: a Hugging Face causal LM folder, decoded with
``generate`` the way MLPerf's reference harnesses do (beam search for gptj,
greedy for llama2).

The model folder is what ``save_pretrained`` writes (config.json plus
safetensors weights), loaded with ``AutoModelForCausalLM``; no pickled code
runs. Reduced precisions: bf16/fp16 cast the weights; int8 quantizes every
Linear layer dynamically (torch.ao), CPU only.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from .base import BackendConfig, BackendError, DeviceUnavailable, ModelLoadError, SilentFallback
from .pytorch_backend import DEVICE_TYPES, PyTorchBackend, start_torch

PRECISIONS = ("fp32", "bf16", "fp16", "int8")


class TorchGenerator:
    name = "pytorch"
    layout = "NCHW"  # token ids are staged as they are
    generative = True

    @classmethod
    def probe(cls, device: str) -> str | None:
        if importlib.util.find_spec("transformers") is None:
            return "transformers is not installed (the project pins transformers==5.24.0)"
        return PyTorchBackend.probe(device)

    def __init__(self):
        self._model = None
        self._config: BackendConfig | None = None

    def load(self, config: BackendConfig) -> None:
        if config.precision == "int8" and config.device != "cpu":
            raise DeviceUnavailable("dynamic int8 quantization (torch.ao) runs on the CPU only")
        torch = start_torch(config, self.probe, PRECISIONS, "the pytorch generation backend")
        path = config.model_path
        if not (path.is_dir() and (path / "config.json").is_file()):
            raise ModelLoadError(f"{path}: expected a Hugging Face model folder (config.json and weights from save_pretrained)")
        from transformers import AutoModelForCausalLM

        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision, torch.float32)
        try:
            model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{path}: cannot load a causal LM from this folder: {exc}") from exc
        model.eval().requires_grad_(False)
        if config.precision == "int8":
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self._device = torch.device(DEVICE_TYPES[config.device])
        model.to(self._device)
        self._torch, self._model, self._config, self._dtype = torch, model, config, dtype
        generation = model.generation_config
        self.eos_token_id = generation.eos_token_id if generation.eos_token_id is not None else model.config.eos_token_id
        if isinstance(self.eos_token_id, (list, tuple)):
            self.eos_token_id = self.eos_token_id[0]
        pad = generation.pad_token_id if generation.pad_token_id is not None else model.config.pad_token_id
        self.pad_token_id = self.eos_token_id if pad is None else pad
        self.vocab_size = int(model.config.vocab_size)
        self.max_positions = int(getattr(model.config, "max_position_embeddings", 0) or getattr(model.config, "n_positions", 0))
        self._check_placement()

    def _check_placement(self) -> None:
        device_type = DEVICE_TYPES[self._config.device]
        places = sorted({str(p.device) for p in self._model.parameters() if p.device.type != device_type})
        if places:
            raise SilentFallback(f"asked pytorch for {self._config.device}, but model tensors are on {places}")
        if self._config.precision in ("bf16", "fp16"):
            other = sorted({str(p.dtype) for p in self._model.parameters() if p.is_floating_point() and p.dtype != self._dtype})
            if other:
                raise SilentFallback(f"asked pytorch for {self._config.precision}, but model tensors are {other}")

    def generate(self, prompts: list[np.ndarray], decoding: dict, on_first_tokens=None) -> list[np.ndarray]:
        """New token ids per prompt, up to and including the first EOS.

        ``on_first_tokens(tokens)`` is called once, with one int64 per prompt,
        as soon as the first new tokens exist (greedy decoding only).
        """
        torch = self._torch
        ids, mask = _left_padded(prompts, self.pad_token_id)
        longest = ids.shape[1]
        beams = int(decoding.get("num_beams", 1))
        kwargs = dict(
            max_new_tokens=int(decoding["max_new_tokens"]), min_new_tokens=int(decoding.get("min_new_tokens", 0)),
            num_beams=beams, do_sample=False, pad_token_id=self.pad_token_id, eos_token_id=self.eos_token_id,
        )
        if beams > 1:
            kwargs["early_stopping"] = True
        if on_first_tokens is not None:
            if beams > 1:
                raise BackendError("first tokens can only be streamed with greedy decoding (num_beams=1)")
            kwargs["streamer"] = _first_token_streamer(on_first_tokens)
        with torch.inference_mode():
            out = self._model.generate(
                input_ids=torch.from_numpy(ids).to(self._device),
                attention_mask=torch.from_numpy(mask).to(self._device), **kwargs,
            )
        new = out[:, longest:].cpu().numpy()
        return [_until_eos(row, self.eos_token_id) for row in new]

    def stream(self, prompts: list[np.ndarray], decoding: dict, on_step, cancelled=None) -> list[np.ndarray]:
        """Decode prompts together greedily, calling ``on_step(tokens)`` with each step's new tokens.

        For the OpenAI completions server (serving/openai_app.py), which
        batches the requests that wait: ``tokens`` holds one int64 per
        prompt, as soon as the step has made them (a finished prompt's are
        padding). ``cancelled()`` returning true ends the decode at the next
        step (every client went away). Returns what generate() returns.
        """
        if int(decoding.get("num_beams", 1)) != 1:
            raise BackendError("tokens can only be streamed with greedy decoding (num_beams=1)")
        torch = self._torch
        from transformers import StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        class EachStep(BaseStreamer):
            """generate() puts the prompt first, then each step's tokens."""

            def __init__(self):
                self.calls = 0

            def put(self, value):
                self.calls += 1
                if self.calls > 1:
                    on_step(value.reshape(-1).cpu().numpy().astype(np.int64))

            def end(self):
                pass

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), bool(cancelled()), dtype=torch.bool, device=input_ids.device)

        ids, mask = _left_padded(prompts, self.pad_token_id)
        longest = ids.shape[1]
        with torch.inference_mode():
            out = self._model.generate(
                input_ids=torch.from_numpy(ids).to(self._device), attention_mask=torch.from_numpy(mask).to(self._device),
                max_new_tokens=int(decoding["max_new_tokens"]), min_new_tokens=int(decoding.get("min_new_tokens", 0)),
                num_beams=1, do_sample=False, pad_token_id=self.pad_token_id, eos_token_id=self.eos_token_id,
                streamer=EachStep(),
                stopping_criteria=StoppingCriteriaList([Cancelled()]) if cancelled is not None else None,
            )
        return [_until_eos(row, self.eos_token_id) for row in out[:, longest:].cpu().numpy()]

    def info(self) -> dict:
        torch = self._torch
        import transformers

        first = next(self._model.parameters(), None)
        return {
            "backend": self.name,
            "implementation": "transformers generate",
            "device": self._config.device,
            "torch_device": str(first.device) if first is not None else str(self._device),
            "precision": self._config.precision,
            "parameter_dtype": str(first.dtype).removeprefix("torch.") if first is not None else None,
            "int8_dynamic_linear": self._config.precision == "int8",
            "intra_op_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
            "framework_version": torch.__version__,
            "transformers_version": transformers.__version__,
        }


def _left_padded(prompts: list[np.ndarray], pad: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, attention mask), left-padded: every prompt ends where generation starts."""
    longest = max(len(p) for p in prompts)
    ids = np.full((len(prompts), longest), pad, dtype=np.int64)
    mask = np.zeros((len(prompts), longest), dtype=np.int64)
    for row, prompt in enumerate(prompts):
        ids[row, longest - len(prompt):] = prompt
        mask[row, longest - len(prompt):] = 1
    return ids, mask


def _until_eos(row: np.ndarray, eos: int | None) -> np.ndarray:
    """Drop what follows the first EOS (padding of finished rows); keep the EOS."""
    if eos is not None:
        hits = np.flatnonzero(row == eos)
        if len(hits):
            return row[: hits[0] + 1]
    return row


def _first_token_streamer(callback):
    from transformers.generation.streamers import BaseStreamer

    class FirstTokens(BaseStreamer):
        """generate() puts the prompt first, then each step's tokens."""

        def __init__(self):
            self.calls = 0

        def put(self, value):
            self.calls += 1
            if self.calls == 2:
                callback(value.reshape(-1).cpu().numpy().astype(np.int64))

        def end(self):
            pass

    return FirstTokens()
