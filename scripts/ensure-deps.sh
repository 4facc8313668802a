#!/usr/bin/env bash
# Installs what netdojo needs on Debian 12 and is missing: the learner's
# tools, libpcap for filter compilation, and checks for Go.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

if [ "$(id -u)" -ne 0 ]; then
	echo "netdojo: run this as root (it installs packages and builds network namespaces)" >&2
	exit 4
fi

packages=(
	iproute2 iptables nftables tcpdump dnsutils iputils-ping traceroute
	iputils-tracepath iputils-arping netcat-openbsd curl ethtool procps
	libpcap-dev gcc libc6-dev ca-certificates chromium
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "netdojo: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null; then
	echo "netdojo: Go 1.26 or newer is needed at /usr/local/go (see README)" >&2
	exit 4
fi
