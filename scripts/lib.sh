# Shared by scripts/setup and scripts/env: where the environment lives.
# shellcheck shell=bash
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The environment lives outside the repository and survives between runs.
ENV_DIR=${ELKS_ENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/elks-ha}
ROOTFS="$ENV_DIR/rootfs"
MIN_PYTHON="3.14.2"

# Prints "host" when the environment uses a Python of this machine, "chroot"
# when it lives in the Debian root filesystem, nothing when not set up yet.
env_mode() {
  [ -f "$ENV_DIR/mode" ] && cat "$ENV_DIR/mode"
}

# The virtual environment as seen from inside the environment.
venv_path() {
  if [ "$(env_mode)" = chroot ]; then echo /opt/elks-venv; else echo "$ENV_DIR/venv"; fi
}

# The second virtual environment with the newest Home Assistant release
# (scripts/setup --newest, requirements_newest.txt), as seen from inside.
venv_newest_path() {
  if [ "$(env_mode)" = chroot ]; then echo /opt/elks-venv-newest; else echo "$ENV_DIR/venv-newest"; fi
}
