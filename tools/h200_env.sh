# On an H200 device machine of this workplace (no network), after the vLLM chunks were carried into
# /tmp/stage/bundle.tar (see ../shared/gpu/README.md):   source tools/h200_env.sh
# Installs the staged vLLM once, sets the house environment (NVLink multicast off), builds the
# Qwen2.5-7B-shaped config-only model, and defines $M7B: the flags that load it with random weights.
if [ ! -d /tmp/site/vllm ]; then
  (cd /tmp/stage && tar xf bundle.tar && python3 -m pip install -q --no-index --no-deps --no-compile \
     --no-cache-dir --target /tmp/site wheels/*.whl) || return 1
fi
export PYTHONPATH=/tmp/site HF_HUB_OFFLINE=1 VLLM_USE_FLASHINFER_SAMPLER=0 PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
[ -f /tmp/models/qwen2.5-7b/config.json ] || python3 .gpu-stage/make_model.py /tmp/models/qwen2.5-7b
M7B="--model /tmp/models/qwen2.5-7b --load-format dummy --tokenizer /tmp/models/qwen2.5-7b-tokenizer --max-model-len 4096"
