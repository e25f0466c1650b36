#!/usr/bin/env bash
# Makes podman usable for the container backend's tests on a fresh Debian machine:
# installs podman, runc and busybox-static, configures the runtime and default ulimits
# this kind of machine needs, and builds the test image localhost/proctor-test:latest
# from busybox (no registry is reachable). Idempotent: each step runs only when missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
# The image needs the static build: the dynamic one would want a libc inside it.
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# A drop-in, so a containers.conf of the machine's own stays untouched.
conf=/etc/containers/containers.conf.d/proctor-ci.conf
if [ ! -s "$conf" ]; then
  mkdir -p "$(dirname "$conf")"
  # crun is not available here and the sandbox's hard limits are lower than podman's
  # defaults, so containers fail to start without these two settings.
  cat >"$conf" <<'CONF'
# proctor-ci: settings the container backend's tests need on this kind of machine
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
CONF
fi

image=localhost/proctor-test:latest
if ! podman image exists "$image"; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/tmp" "$root/www" "$root/data"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    # A link named busybox would point at itself.
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  echo '<h1>proctor</h1>' >"$root/www/index.html"
  tar -C "$root" -cf "$root.tar" .
  podman import --change 'CMD ["/bin/sh"]' "$root.tar" "$image" >/dev/null
  rm -f "$root.tar"
  echo "built $image"
fi
