#!/usr/bin/env bash
# Wheel smoke test (`make wheel-test`, run by CI after `make test`).
#
# Builds the sdist and, from it, the wheel; installs $TORCH and then the wheel into a fresh virtual
# environment in a temporary directory outside the repository; and, from a working directory
# outside the repository (so that the source tree cannot be imported), restores a generated image
# with the embedded denoise checkpoint, and runs `restormixer serve` without its extra (one line
# naming the extra). Checks that LICENSE is in both archives, that the package
# and the weights it uses come from the environment's site-packages, and that the output decodes
# with the input's size. Its temporary directory is removed on exit; the only trace in the
# repository is restormixer_cli.egg-info/ (git-ignored), which the sdist build writes there.
#
# Environment: PYTHON (interpreter for the virtual environments, default python3) and TORCH (pip
# requirement installed before the wheel, default torch==2.13.0); the Makefile passes its own.
set -euo pipefail

PYTHON=${PYTHON:-python3}
TORCH=${TORCH:-torch==2.13.0}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
start=$SECONDS

tmp=$(mktemp -d -t restormixer-wheel-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
tmp=$(cd "$tmp" && pwd -P)
case "$tmp/" in
    "$repo"/*) echo "wheel-test: the temporary directory $tmp is inside the repository; set TMPDIR elsewhere" >&2
               exit 1 ;;
esac

step() { printf '\n== %s (%d s)\n' "$1" $((SECONDS - start)); }

# Runs a command with its output in a log, shown only if the command fails.
quiet() {
    local log="$tmp/step.log"
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "wheel-test: failed: $*" >&2
        exit 1
    fi
}

step "build the sdist, then the wheel from it"
quiet "$PYTHON" -m venv "$tmp/build-env"
quiet "$tmp/build-env/bin/python" -m pip install build
quiet "$tmp/build-env/bin/python" -m build --outdir "$tmp/dist" "$repo"
sdists=("$tmp"/dist/*.tar.gz)
wheels=("$tmp"/dist/*.whl)
[[ ${#sdists[@]} -eq 1 && -f ${sdists[0]} && ${#wheels[@]} -eq 1 && -f ${wheels[0]} ]] || {
    echo "wheel-test: expected one sdist and one wheel, found: $(ls "$tmp/dist")" >&2
    exit 1
}
sdist=${sdists[0]}
wheel=${wheels[0]}
echo "built $(basename "$sdist") and $(basename "$wheel")"

"$tmp/build-env/bin/python" - "$sdist" "$wheel" <<'EOF'
import sys, tarfile, zipfile

sdist, wheel = sys.argv[1:]
with tarfile.open(sdist) as tar:
    sdist_names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
with zipfile.ZipFile(wheel) as zf:
    wheel_names = set(zf.namelist())
problems = []
if "LICENSE" not in sdist_names:
    problems.append("sdist: no LICENSE")
if not any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel_names):
    problems.append("wheel: no LICENSE in .dist-info/licenses/")
for name in ("restormixer_cli/hub/registry.json", "restormixer_cli/py.typed",
             "restormixer_cli/weights/denoise/model.safetensors", "restormixer_cli/weights/denoise/config.json",
             *(f"restormixer_cli/serve/static/{page}" for page in ("index.html", "app.js", "style.css"))):
    if name not in wheel_names:
        problems.append(f"wheel: no {name}")
stray = sorted({top for top in (name.split("/")[0] for name in wheel_names)
                if top != "restormixer_cli" and not top.endswith(".dist-info")})
if stray:
    problems.append(f"wheel: unexpected top-level entries {stray}")
if problems:
    sys.exit("wheel-test: " + "; ".join(problems))
print(f"LICENSE in sdist and wheel; wheel has {len(wheel_names)} files, all under restormixer_cli/ and its .dist-info")
EOF

step "install $TORCH, then the wheel, into a fresh virtual environment"
venv="$tmp/venv"
py="$venv/bin/python"
quiet "$PYTHON" -m venv "$venv"
quiet "$py" -m pip install "$TORCH"
# The wheel must accept the torch just installed (not upgrade it).
"$py" -c 'import importlib.metadata as m; print("torch==" + m.version("torch"))' >"$tmp/torch-constraint.txt"
quiet "$py" -m pip install --constraint "$tmp/torch-constraint.txt" "$wheel"
echo "installed $(cat "$tmp/torch-constraint.txt") and $(basename "$wheel")"

step "restore a generated image from outside the repository"
work="$tmp/work"
mkdir -p "$work/in"
cd "$work"
unset PYTHONPATH PYTHONHOME
export HF_HOME="$tmp/hf-home" HF_HUB_OFFLINE=1  # no user cache, no network: the embedded copy

module=$("$py" -c "import restormixer_cli, pathlib; print(restormixer_cli.__file__)")
echo "restormixer_cli imported from $module"

"$py" - <<'EOF'
import numpy as np
from PIL import Image

height, width = 48, 64
x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
rgb = np.stack([x, y, 255 - x], axis=-1).round().astype(np.uint8)
Image.fromarray(rgb, "RGB").save("in/gradient.png")
EOF

"$venv/bin/restormixer" restore in --task denoise -o out --json report.json --quiet

"$py" - "$module" "$repo" <<'EOF'
import hashlib, json, sys, sysconfig
from pathlib import Path

from PIL import Image
from restormixer_cli.hub.registry import get_task

module, repo = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
site = Path(sysconfig.get_paths()["purelib"]).resolve()
problems = []

def check(ok: bool, message: str) -> None:
    if not ok:
        problems.append(message)

check(module.is_relative_to(site), f"restormixer_cli imported from {module}, not from {site}")
check(not module.is_relative_to(repo), f"restormixer_cli imported from the repository: {module}")

report = json.loads(Path("report.json").read_text())
check(report["weights"] == "embedded denoise checkpoint", f"weights used: {report['weights']!r}")
embedded = get_task("denoise").embedded_path  # a weights file or a hub-layout folder
check(embedded is not None, "no embedded denoise checkpoint in the installed package")
if embedded is not None:
    embedded = embedded.resolve()
    candidates = [embedded] if embedded.is_file() else sorted(p for p in embedded.iterdir() if p.is_file())
    used = [p for p in candidates if hashlib.sha256(p.read_bytes()).hexdigest() == report["weights_sha256"]]
    check(len(used) == 1, f"no file in {embedded} has the sha256 of the weights used, {report['weights_sha256']}")
    for weights in used:
        check(weights.is_relative_to(site), f"the weights used, {weights}, are not in {site}")
        print(f"weights used: {weights} (sha256 {report['weights_sha256'][:12]}...)")

files = report["files"]
check(len(files) == 1 and files[0]["status"] == "done", f"restore results: {files}")
if len(files) == 1 and files[0]["output"]:
    output = Path(files[0]["output"])
    check(output.is_file(), f"no output file {output}")
    if output.is_file():
        with Image.open(output) as image:
            image.load()
            check(image.size == (64, 48), f"output size {image.size}, expected (64, 48)")
            print(f"output: {output} ({image.format}, {image.mode}, {image.size[0]}x{image.size[1]})")
if problems:
    sys.exit("wheel-test: " + "\n  ".join(["failed:", *problems]))
EOF

step "serve without the serve extra: one line naming the extra"
if "$venv/bin/restormixer" serve >"$tmp/serve.log" 2>&1 || ! grep -q "restormixer-cli\[serve\]" "$tmp/serve.log"; then
    cat "$tmp/serve.log" >&2
    echo "wheel-test: restormixer serve without its extra should fail naming it" >&2
    exit 1
fi
cat "$tmp/serve.log"

step "wheel smoke test passed"
