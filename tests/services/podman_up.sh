#!/usr/bin/env bash
# Install podman for the container tests and make it work on machines whose root lacks
# CAP_SYS_RESOURCE (the OCI runtime then fails with "setrlimit ... Operation not permitted"):
# tests/services/runc-norlimit drops process.rlimits from the bundle before running runc.
# Test-machine set-up only: scriptflow itself never depends on it. Idempotent; prints "podman up".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! [ -x /bin/busybox ]; then
  for try in 1 2 3; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends podman runc busybox-static \
      >/dev/null && break
    echo "apt-get install failed (try $try)" >&2; apt-get update -q >/dev/null || true; sleep 5
  done
fi
install -m 0755 "$here/runc-norlimit" /usr/local/bin/runc-norlimit
mkdir -p /etc/containers/containers.conf.d
cat >/etc/containers/containers.conf.d/50-scriptflow-tests.conf <<'CONF'
[engine]
runtime = "runc-norlimit"
[engine.runtimes]
runc-norlimit = ["/usr/local/bin/runc-norlimit"]
CONF
# A smoke test: one container that writes into a mounted folder.
probe=$(mktemp -d)
r="$probe/root"; mkdir -p "$r/bin" "$r/tmp"; cp /bin/busybox "$r/bin/"; ln -s busybox "$r/bin/sh"
tar -C "$r" -cf "$probe/img.tar" . && podman import -q "$probe/img.tar" localhost/scriptflow-probe:up >/dev/null
podman run --rm -v "$probe:$probe" -w "$probe" localhost/scriptflow-probe:up sh -c 'echo ok > probe.txt'
grep -qx ok "$probe/probe.txt" || { echo "ERROR: podman could not run a container" >&2; exit 1; }
podman rmi -f localhost/scriptflow-probe:up >/dev/null
rm -rf "$probe"
echo "podman up"
