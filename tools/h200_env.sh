# On an offline GPU machine (no network) where vLLM's wheels were carried in as /tmp/stage/bundle.tar
# (staged in chunks that fit beside this tree: tools/restage.sh):
#   source tools/h200_env.sh
# Installs that vLLM once into /tmp/site, sets the environment (NVLink multicast off), builds the
# Qwen2.5-7B-shaped config-only model (tools/make_model.py), and defines $M7B: the flags that load it with
# random weights (same kernels and speed as the real checkpoint; nothing to download), exported so that a
# batch started with setsid sees it.
if [ ! -d /tmp/site/vllm ]; then
  (cd /tmp/stage && tar xf bundle.tar && python3 -m pip install -q --no-index --no-deps --no-compile \
     --no-cache-dir --target /tmp/site wheels/*.whl) || return 1
fi
RAYWHL=/tmp/raystage/ray-2.60.0-cp312-cp312-manylinux2014_x86_64.whl  # carried only for the Ray path
if [ -f $RAYWHL ] && [ ! -d /tmp/site/ray ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site $RAYWHL || return 1
fi
export PYTHONPATH=/tmp/site HF_HUB_OFFLINE=1 VLLM_USE_FLASHINFER_SAMPLER=0 PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
[ -f /tmp/models/qwen2.5-7b/config.json ] || python3 tools/make_model.py /tmp/models/qwen2.5-7b
export M7B="--model /tmp/models/qwen2.5-7b --load-format dummy --tokenizer /tmp/models/qwen2.5-7b-tokenizer --max-model-len 4096"
