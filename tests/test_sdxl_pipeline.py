"""The proxy pipeline is Stable Diffusion XL's, run as MLPerf runs it.

- the Euler schedule (schedule.py) is diffusers' EulerDiscreteScheduler with
  SDXL's configuration, for MLPerf's 20 steps and the proxy's;
- TinySDXLPipeline makes the pictures diffusers' own StableDiffusionXLPipeline
  makes from the same parts, embeddings, latent, guidance and schedule;
- the committed ONNX and PyTorch proxies agree, fit the task's contract, and
  the ONNX graph refuses a schedule of another length by name;
- the responses are PostProcessCoco's uint8 pictures.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the proxy pipeline is a torch module")
pytest.importorskip("diffusers", reason="the proxy pipeline is built from diffusers' UNet and VAE")
pytest.importorskip("onnxruntime", reason="the proxy's reference is measured through ONNX Runtime")

from harness.backends.base import BackendConfig  # noqa: E402
from harness.datasets.base import DatasetRequest  # noqa: E402
from harness.registry.parts import resolve  # noqa: E402

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "sdxl"
PROXY = FAMILY_DIR / "proxy"
RECORD = json.loads((PROXY / "proxy.json").read_text())


def family_module(name: str):
    return importlib.import_module(resolve(f"{name}:__name__", FAMILY_DIR, "module"))


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """The first 8 proxy captions, staged as a run stages them."""
    work = tmp_path_factory.mktemp("sdxl-pipeline")
    root = family_module("proxy_data").render_dataset(work / "coco2014")
    request = DatasetRequest(cache_dir=work / "cache", tokenizer_dir=PROXY, count=8, task_options={"image_size": 64})
    return np.load(family_module("dataset").Coco2014Captions().prepare(root, request).samples_path)


def load_backend(kind: str):
    task_inputs = family_module("task").INPUTS
    if kind == "onnxruntime":
        from harness.backends.onnxruntime_backend import OnnxRuntimeBackend as cls
        model, options = PROXY / "sdxl_proxy.onnx", {}
    else:
        from harness.backends.pytorch_backend import PyTorchBackend as cls
        model, options = PROXY / "sdxl_proxy_torch.pt", {"architecture": "harness.benchmarks.sdxl.model:TinySDXLPipeline"}
    backend = cls()
    backend.load(BackendConfig(model_path=model, threads=1, inputs=task_inputs, outputs=("images",),
                               contract_outputs=("images",), options=options))
    return backend


def proxy_task(**options):
    return family_module("task").TextToImage(**{"steps": 4, "image_size": 64, **options})


# ------------------------------------------------------------------ the schedule
@pytest.mark.parametrize("steps", [20, 4, 7])
def test_the_schedule_is_diffusers_euler_discrete_with_sdxls_configuration(steps):
    from diffusers import EulerDiscreteScheduler

    schedule = family_module("schedule")
    reference = EulerDiscreteScheduler.from_config(schedule.SCHEDULER_CONFIG)
    reference.set_timesteps(steps)
    mine = schedule.euler_schedule(steps)
    assert np.array_equal(mine.timesteps, reference.timesteps.numpy())
    np.testing.assert_allclose(mine.sigmas, reference.sigmas.numpy(), rtol=2e-6, atol=1e-7)
    assert mine.init_noise_sigma == pytest.approx(float(reference.init_noise_sigma), rel=2e-6)


def test_mlperfs_twenty_steps_start_at_951():
    schedule = family_module("schedule").euler_schedule(20)
    assert schedule.timesteps[:3].tolist() == [951.0, 901.0, 851.0] and schedule.timesteps[-1] == 1.0
    assert schedule.sigmas[-1] == 0.0 and len(schedule.sigmas) == 21


# ------------------------------------------------------------------ against diffusers' pipeline
def test_the_proxy_makes_the_pictures_diffusers_sdxl_pipeline_makes(staged):
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    model_module, schedule, tokenizer = family_module("model"), family_module("schedule"), family_module("clip_tokenizer")
    pipeline = model_module.TinySDXLPipeline().eval()
    pipeline.load_state_dict(torch.load(PROXY / "sdxl_proxy_torch.pt", weights_only=True))
    pipeline.vae.register_to_config(scaling_factor=float(pipeline.scaling_factor))
    first, second = tokenizer.pipeline_tokenizers(PROXY)
    sdxl = StableDiffusionXLPipeline(
        vae=pipeline.vae, text_encoder=pipeline.text_encoder, text_encoder_2=pipeline.text_encoder_2,
        tokenizer=first, tokenizer_2=second, unet=pipeline.unet,
        scheduler=EulerDiscreteScheduler.from_config(schedule.SCHEDULER_CONFIG), add_watermarker=False)
    sdxl.set_progress_bar_config(disable=True)
    feed = proxy_task().feed(staged[:3])
    tensors = {name: torch.from_numpy(value) for name, value in feed.items()}
    with torch.inference_mode():
        embeds, pooled = pipeline.encode(tensors["input_ids"], tensors["input_ids_2"])
        negative, negative_pooled = pipeline.encode(tensors["negative_input_ids"], tensors["negative_input_ids_2"])
        expected = sdxl(prompt_embeds=embeds, negative_prompt_embeds=negative, pooled_prompt_embeds=pooled,
                        negative_pooled_prompt_embeds=negative_pooled, guidance_scale=8.0, num_inference_steps=4,
                        output_type="pt", latents=tensors["latents"], height=64, width=64).images
        mine = pipeline(*(tensors[name] for name in model_module.INPUTS))[0]
    assert mine.shape == expected.shape == (3, 3, 64, 64)
    np.testing.assert_allclose(mine.numpy(), expected.numpy(), atol=2e-4)
    assert float(mine.std()) > 0.1  # pictures, not a flat field


# ------------------------------------------------------------------ the committed files
def test_the_committed_files_are_those_the_record_names():
    import hashlib

    for name, digest in RECORD["files"].items():
        assert hashlib.sha256((PROXY / name).read_bytes()).hexdigest() == digest, name
    total = sum(p.stat().st_size for p in PROXY.iterdir() if p.is_file())
    assert total < 7 * 2**20, f"the proxy files take {total / 2**20:.1f} MiB"


def test_onnx_runtime_and_pytorch_draw_the_same_pictures(staged):
    task = proxy_task()
    pictures = {kind: task.run(load_backend(kind), staged, np.arange(len(staged))) for kind in ("onnxruntime", "pytorch")}
    ort, pt = pictures["onnxruntime"], pictures["pytorch"]
    assert ort.dtype == np.uint8 and ort.shape == (8, 64, 64, 3)
    assert int(np.abs(ort.astype(np.int16) - pt.astype(np.int16)).max()) <= 2


def test_the_onnx_model_fits_the_task_contract(staged):
    from harness.runner.contract import check_contract

    backend, batch = check_contract(load_backend("onnxruntime"), proxy_task(), staged, 8, model="sdxl_proxy.onnx")
    assert batch == 8  # the batch axis is free


def test_a_schedule_of_another_length_is_refused_by_the_onnx_graph(staged):
    backend = load_backend("onnxruntime")
    with pytest.raises(Exception, match="timesteps"):
        backend.predict(proxy_task(steps=5).feed(staged[:1]))


def test_the_response_is_postprocess_cocos_rounding():
    task = proxy_task()
    images = np.zeros((1, 3, 64, 64), np.float32)
    images[0, 0, 0, 0], images[0, 1, 0, 0], images[0, 2, 0, 0] = 1.0, 0.5, 0.002
    out = task.responses([images])
    assert out.shape == (1, 64, 64, 3) and out.dtype == np.uint8
    assert out[0, 0, 0].tolist() == [255, 128, 1]  # 127.5 rounds to even 128, 0.51 to 1


def test_the_guidance_scale_changes_the_pictures(staged):
    backend = load_backend("onnxruntime")
    mlperf = proxy_task().run(backend, staged[:2], np.arange(2))
    weak = proxy_task(guidance_scale=2.0).run(backend, staged[:2], np.arange(2))
    assert np.abs(mlperf.astype(np.int16) - weak.astype(np.int16)).mean() > 1.0
