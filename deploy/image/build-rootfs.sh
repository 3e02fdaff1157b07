#!/usr/bin/env bash
# Build the Jadechain image's root filesystem without a container daemon: the same steps as the
# Dockerfile's runtime stage, from Debian packages (debootstrap) plus the project's wheel and a
# wheelhouse of its dependencies.
#
#   deploy/image/build-rootfs.sh [options] ROOTFS_DIR
#     --mirror URL        Debian mirror (default: the first one this host's apt uses, else deb.debian.org)
#     --wheelhouse DIR    wheels to install (default: built now with `pip wheel .` on this host)
#     --cache-dir DIR     keep downloaded .deb files here between builds (debootstrap --cache-dir)
#     --tarball FILE      also write the root filesystem as a normalised tar
#     --python PYTHON     the host Python that builds the wheelhouse (default: python3; must be 3.11
#                         like bookworm's python3, so binary wheels fit)
#
# Needs root, debootstrap and chroot. Prints, and writes next to ROOTFS_DIR as ROOTFS_DIR.json,
# the image reference (jadechain/node:<version>) and a content digest: sha256 of the normalised tar
# of the root filesystem (sorted names, numeric owners, mtime 0). It stands in for a registry's
# image digest where no daemon builds the image; `render-k8s --image-digest` records it.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
project="$(cd "$here/../.." && pwd)"
suite=bookworm
mirror=""
wheelhouse=""
cache_dir=""
tarball=""
python="${PYTHON:-python3}"

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --mirror) mirror="$2"; shift 2 ;;
    --wheelhouse) wheelhouse="$2"; shift 2 ;;
    --cache-dir) cache_dir="$2"; shift 2 ;;
    --tarball) tarball="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    -*) echo "build-rootfs: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || usage
rootfs="$1"

die() { echo "build-rootfs: $*" >&2; exit 1; }
[ "$(id -u)" = "0" ] || die "must run as root (debootstrap and chroot need it)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
command -v chroot >/dev/null || die "chroot is not available"
[ ! -e "$rootfs" ] || [ -z "$(ls -A "$rootfs")" ] || die "$rootfs exists and is not empty"

host_mirror() {
  # deb822 sources first (URIs: ...), then one-line sources (deb URL suite ...).
  local found=""
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    found="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$file")"
    [ -n "$found" ] && { echo "$found"; return; }
  done
  if [ -f /etc/apt/sources.list ]; then
    found="$(awk '$1 == "deb" && $2 !~ /security/ {print ($2 ~ /^\[/ ? $3 : $2); exit}' /etc/apt/sources.list)"
    [ -n "$found" ] && { echo "$found"; return; }
  fi
  echo "http://deb.debian.org/debian"
}
[ -n "$mirror" ] || mirror="$(host_mirror)"

version="$("$python" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$project/pyproject.toml")"
image="jadechain/node:$version"
work="$(mktemp -d)"
mounted=()
cleanup() {
  local index
  for ((index=${#mounted[@]}-1; index>=0; index--)); do
    umount -l "${mounted[$index]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The wheelhouse: the project's wheel and every dependency as a wheel, built on this host.
if [ -z "$wheelhouse" ]; then
  "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "$python is not Python 3.11 (bookworm's python3); pass --python or --wheelhouse"
  wheelhouse="$work/wheels"
  # The files the Dockerfile's build stage copies, staged so the build leaves nothing in the tree.
  mkdir -p "$work/src"
  (cd "$project" && tar --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md \
    ledger contracts consensus node jadechain baas) | tar -C "$work/src" -xf -
  echo "build-rootfs: building wheels with $python" >&2
  "$python" -m pip wheel --quiet --wheel-dir "$wheelhouse" "$work/src"
fi
ls "$wheelhouse"/jadechain-*.whl >/dev/null 2>&1 || die "no jadechain wheel in $wheelhouse"

# 2. The base system: the Dockerfile's debian:bookworm-slim + python3 python3-venv ca-certificates.
echo "build-rootfs: debootstrap $suite from $mirror" >&2
cache_args=()
if [ -n "$cache_dir" ]; then
  mkdir -p "$cache_dir"
  cache_args=(--cache-dir="$(cd "$cache_dir" && pwd)")
fi
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates "${cache_args[@]}" \
  "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

# 3. The runtime stage's RUN, inside the new root: a virtualenv installed offline from the wheelhouse.
mount -t proc proc "$rootfs/proc" && mounted+=("$rootfs/proc")
mkdir -p "$rootfs/tmp/wheels"
cp "$wheelhouse"/*.whl "$rootfs/tmp/wheels/"
chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 /bin/sh -eu -c '
  python3 -m venv /opt/jadechain
  /opt/jadechain/bin/pip install --quiet --no-cache-dir --no-index --find-links /tmp/wheels jadechain
  /opt/jadechain/bin/pip uninstall --quiet -y pip
  groupadd --system --gid 10001 jadechain
  useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin jadechain
  install -d -o 10001 -g 10001 -m 0700 /data
  ln -sf /opt/jadechain/bin/jadechain /usr/local/bin/jadechain
  ln -sf /opt/jadechain/bin/python /usr/local/bin/python
'
umount "$rootfs/proc" && mounted=()
rm -rf "$rootfs/tmp/wheels" "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/* 2>/dev/null || true
printf 'JADECHAIN_IMAGE=%s\nJADECHAIN_VERSION=%s\n' "$image" "$version" >"$rootfs/etc/jadechain-image"

# 4. The content digest: a normalised tar of the tree (the same files give the same digest).
tar_tree() {
  tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$rootfs" -cf - .
}
if [ -n "$tarball" ]; then
  tar_tree >"$tarball"
  digest="sha256:$(sha256sum "$tarball" | cut -d' ' -f1)"
else
  digest="sha256:$(tar_tree | sha256sum | cut -d' ' -f1)"
fi
"$python" -c 'import json, sys; print(json.dumps({"image": sys.argv[1], "digest": sys.argv[2], "version": sys.argv[3], "rootfs": sys.argv[4], "mirror": sys.argv[5]}, indent=2))' \
  "$image" "$digest" "$version" "$(cd "$rootfs" && pwd)" "$mirror" | tee "${rootfs%/}.json"
