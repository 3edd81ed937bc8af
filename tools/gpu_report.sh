#!/usr/bin/env bash
# The GPU measurements of the performance docs in one run (issue: GPU figures).
#
#   bash tools/gpu_report.sh OUT_DIR          # on the accelerator machine
#   MODELS="tsm_r50 tsn_bninception_rgb" bash tools/gpu_report.sh OUT_DIR   # a part
#   SMOKE=1 bash tools/gpu_report.sh OUT_DIR  # every path at tiny sizes, on a CPU
#
# On one H200 a model's bfloat16 run against PyTorch eager takes 90-105 s (two
# compilations, PyTorch's cuDNN autotuning, the float32 logit check), so the whole set
# needs more than one 10-minute call: give each call a few MODELS.
#
# For each benchmark model: JAX bfloat16 training and inference with PyTorch eager on the
# same device, batch and weights (tools/benchmark.py --compare_torch); torch.compile and
# float32 for the two ResNet-50 families (peak memory is in each run's output; compare it
# with tools/memory_estimate.py, which needs no device). Every run has its own time limit and its log goes to OUT_DIR, so one failure
# does not cost the others.
set -u
out=${1:?give an output folder}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
log="$out/gpu_report.log"

if [[ "${SMOKE:-0}" == 1 ]]; then
  tiny=(--width=8 --crop_size=64 --steps=1 --warmup=1)
  limit=600
  declare -A batch=([tsn_r50]=1 [tsm_r50]=1 [tsn_bninception_rgb]=1 [tsn_bninception_flow]=1
    [i3d_r50]=1 [r2plus1d_18]=1)
else
  tiny=(--steps=5 --warmup=2)
  limit=150
  # Clips per step: 512 frames for the 2D networks (384 for BN-Inception's 3 segments),
  # 512 frames of 32x224 for I3D-R50, 64 clips of 16x112 for R(2+1)D-18.
  declare -A batch=([tsn_r50]=64 [tsm_r50]=64 [tsn_bninception_rgb]=128
    [tsn_bninception_flow]=128 [i3d_r50]=16 [r2plus1d_18]=64)
fi

deadline=$((SECONDS + ${BUDGET_S:-520}))  # the whole report, for a 600 s device call
bench() {  # name, time limit (s), then tools.benchmark flags
  local name=$1 cap=$2
  shift 2
  local left=$((deadline - SECONDS))
  ((left < cap)) && cap=$left
  if ((cap < 30)); then
    echo "=== $name: skipped, no time left" | tee -a "$log"
    return
  fi
  echo "=== $name: $*" | tee -a "$log"
  timeout "$cap" python3 -m tools.benchmark "$@" "${tiny[@]}" >>"$log" 2>&1
  echo "=== $name: exit $? after ${SECONDS}s" | tee -a "$log"
}

{
  date -u
  nvidia-smi -L 2>&1 || true
  python3 -c "import jax, flax, torch; print('jax', jax.__version__, jax.devices(), \
'flax', flax.__version__, 'torch', torch.__version__)"
} >>"$log" 2>&1

# Most important first: every model against PyTorch eager, then torch.compile and float32.
for model in ${MODELS:-tsn_r50 i3d_r50 r2plus1d_18 tsm_r50 tsn_bninception_rgb tsn_bninception_flow}; do
  bench "$model-bf16" "$limit" --model=$model --batch_size=${batch[$model]} \
    --dtype=bfloat16 --compare_torch --notorch_compile
done
for model in ${COMPILE_MODELS:-tsn_r50 i3d_r50}; do
  bench "$model-bf16-compile" "$limit" --model=$model --batch_size=${batch[$model]} \
    --dtype=bfloat16 --compare_torch --torch_compile
  bench "$model-fp32" "$limit" --model=$model --batch_size=${batch[$model]} --dtype=float32
done
date -u >>"$log"
