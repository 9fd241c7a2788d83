#!/usr/bin/env bash
# Every GPU figure of docs/benchmarks.md, in one command on one H100/H200 (at most 8
# minutes: its budget):
#
#     bash benchmarks/gpu.sh
#
# Runs benchmarks/gpu.py (real-size IP2P, SAM ViT-H, FLUX.1 Kontext, Qwen-Image-Edit-2511 and
# FLUX.2 [klein] 4B with random weights; see its docstring), writes its block into
# docs/benchmarks.md and prints a short table. When $OUT is set, the block, docs/benchmarks.md and
# the log are copied there too.
#
# Python: $MASKEDIT_GPU_SH_PYTHON when set; else, when a folder .whl/ is in the repository root
# (wheels of the packages the machine lacks, for a machine without internet), python3 with them
# installed into /tmp/site; else .venv/bin/python when there is one, else python3. The checkout's
# own src/ always comes first on PYTHONPATH: it is the code being measured.
#
# MASKEDIT_GPU_SH_TOY=1: the same sections at toy widths on the CPU, into a scratch copy of the
# docs (a check of the plumbing, not a measurement). MASKEDIT_GPU_SH_BUDGET: seconds for all
# sections (default 400; the whole command stops by force 35 s after it). MASKEDIT_GPU_SH_FAMILIES:
# which editor families run (default all: ip2p,kontext,qwen-edit-plus,flux2-klein).
set -euo pipefail
cd "$(dirname "$0")/.."

toy="${MASKEDIT_GPU_SH_TOY:-0}"
budget="${MASKEDIT_GPU_SH_BUDGET:-400}"
families="${MASKEDIT_GPU_SH_FAMILIES:-ip2p,kontext,qwen-edit-plus,flux2-klein}"
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
path=src

if [ -n "${MASKEDIT_GPU_SH_PYTHON:-}" ]; then
    py="$MASKEDIT_GPU_SH_PYTHON"
elif [ -d .whl ] && compgen -G ".whl/*.whl" > /dev/null; then
    echo "installing $(ls .whl/*.whl | wc -l) wheels from .whl/ into /tmp/site"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    path=src:/tmp/site
    py=python3
elif [ -x .venv/bin/python ]; then
    py=.venv/bin/python
else
    py=python3
fi
export PYTHONPATH="$path${PYTHONPATH:+:$PYTHONPATH}"

# Fail early, naming what is missing, rather than minutes in.
"$py" - <<'EOF'
import importlib, sys
need = ["torch", "numpy", "PIL", "diffusers", "transformers", "pydantic", "yaml", "scipy",
        "skimage", "cv2", "rich", "maskedit"]
missing = []
for name in need:
    try:
        importlib.import_module(name)
    except Exception as err:  # an ImportError, or a dependency check failing inside the package
        missing.append(f"{name} ({type(err).__name__}: {str(err).splitlines()[0][:120]})")
if missing:
    sys.exit("gpu.sh: cannot import " + "; ".join(missing))
import diffusers, maskedit, torch, transformers
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, diffusers "
      f"{diffusers.__version__}, transformers {transformers.__version__}, maskedit from "
      f"{maskedit.__file__}; CUDA: {torch.cuda.is_available()}")
EOF

doc=docs/benchmarks.md
args=(--budget "$budget" --families "$families" --launcher "bash benchmarks/gpu.sh")
if [ "$toy" = 1 ]; then
    scratch="${TMPDIR:-/tmp}/maskedit-gpu-toy"
    mkdir -p "$scratch"
    cp "$doc" "$scratch/benchmarks.md"
    doc="$scratch/benchmarks.md"
    args+=(--toy)
fi
args+=(--out "$doc")
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    args+=(--copy-to "$OUT")
fi
log="${OUT:-${TMPDIR:-/tmp}}/gpu-sh.log"

status=0
timeout --signal=INT --kill-after=10 $((${budget%.*} + 35)) \
    "$py" benchmarks/gpu.py "${args[@]}" 2>&1 | tee "$log" || status=$?
if [ -n "${OUT:-}" ]; then
    cp "$doc" "$OUT/benchmarks.md"
fi
echo "gpu.sh: block written to $doc${OUT:+, copied to $OUT}; log $log (exit $status)"
exit "$status"
