#!/usr/bin/env bash
# Build llama.cpp's llama-server and rpc-server from the llama.cpp source that
# the pinned llama-cpp-python sdist vendors (the in-process engine's version),
# once, into a cache keyed by version and flags; print the folder holding them.
# Nothing requires the cache: without it this builds from source (~5-10 min
# on 2 cores). The server tests use $CANDLELIT_LLAMA_SERVER_DIR.
set -euo pipefail
LLAMA_VERSION="${LLAMA_VERSION:-0.3.36}"
FLAGS="-DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_SERVER=ON -DGGML_RPC=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF"
if [ "$(uname -m)" = "x86_64" ]; then
  FLAGS="$FLAGS -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
fi
key=$(printf '%s|%s|%s' "$LLAMA_VERSION" "$FLAGS" "$(uname -m)" | sha256sum | cut -c1-16)
out="${CANDLELIT_SERVER_CACHE:-$HOME/.cache/candlelit-servers}/$key"
if [ -x "$out/llama-server" ] && [ -x "$out/rpc-server" ]; then
  echo "$out"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "ci: building llama-server $LLAMA_VERSION into $out (one time)" >&2
python3 -m pip download -q --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$LLAMA_VERSION" >&2
tar xzf "$work"/llama_cpp_python-"$LLAMA_VERSION".tar.gz -C "$work"
src="$work/llama_cpp_python-$LLAMA_VERSION/vendor/llama.cpp"
# shellcheck disable=SC2086
cmake -S "$src" -B "$work/build" $FLAGS >&2
cmake --build "$work/build" -j "$(nproc)" --target llama-server ggml-rpc-server >&2
mkdir -p "$out.tmp"
cp "$work/build/bin/llama-server" "$out.tmp/" && cp "$work/build/bin/ggml-rpc-server" "$out.tmp/rpc-server"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
