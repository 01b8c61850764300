#!/bin/bash
# bench/infer-device.sh: bench/infer's huddle-vs-llama-bench comparison for a
# machine that has neither this repository's build dependencies nor node:
# the figures of BENCHMARKS.md's "16-core Xeon" table came from it (run as
# `bash bench/infer-device.sh` from the repo root on the lent device machine,
# with .devbench/ carried along and $OUT the folder for the results).
#
# .devbench/ (git-ignored) holds what the machine lacks, prepared here:
#   hbench        huddle's `bench` and `gen-model` commands alone (src/cmd/cmd_bench.c
#                 with a 10-line main, linked with build/libhdinfer.a and libhdcore.a)
#   lib/          libpcre2-8, libutf8proc, libcrypto, libjansson (.so files)
#   llsrc.tgz     llama.cpp's CMake tree trimmed to ggml (CPU), src, common, vendor and
#                 tools/llama-bench, from node-llama-cpp's llama/gitRelease.bundle (the
#                 commit its prebuilt binary uses), built there with -march=native
#   llbin/        the llama-bench built here (fallback when the build there fails)
# Models are generated there with the same `gen-model` arguments as bench/infer.
# Output: $OUT/results.jsonl (bandwidth, each huddle and llama-bench run), $OUT/log.
set -u
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
D=$PWD/.devbench
export LD_LIBRARY_PATH=$D/lib
H=$D/hbench
R=$OUT/results.jsonl
: > $R
echo "== $(el)s machine"; nproc; grep -m1 "model name" /proc/cpuinfo; grep -o -w 'avx512f\|avx512_vnni\|avx512bw\|avx2' /proc/cpuinfo | sort | uniq -c
M=/tmp/m; mkdir -p $M
S110="--dim 768 --layers 12 --heads 12 --kv-heads 12 --ff 2048"
S11="--dim 2048 --layers 22 --heads 32 --kv-heads 4 --ff 5632"
targ() { [ "$1" = q4_k_m ] && echo "--q4_k_m" || echo "--type $1"; }
# models: 110m in one background job, each 1.1b type in its own
( for t in q4_0 q8_0 q4_k_m f16; do $H gen-model $M/110m-$t.gguf $S110 $(targ $t) --vocab 32000 --ctx 2048 --seed 1; done; touch $M/110m.done ) &
for t in q4_0 q8_0 f16 q4_k_m; do ( $H gen-model $M/1.1b-$t.gguf $S11 $(targ $t) --vocab 32000 --ctx 2048 --seed 1 && touch $M/1.1b-$t.done ) & done
# llama-bench from source, natively for this CPU
echo "== $(el)s build llama-bench"
tar xzf $D/llsrc.tgz -C /tmp
CM=$(command -v cmake || ls /opt/torch/.venv/bin/cmake 2>/dev/null || python3 -c 'import cmake,os; print(os.path.join(cmake.CMAKE_BIN_DIR,"cmake"))' 2>/dev/null)
echo "cmake: $CM $(command -v gcc g++ cc c++ | tr '\n' ' ')"
( $CM -S /tmp/llsrc -B /tmp/llb -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_APP=OFF > /tmp/cmake.log 2>&1 \
  && $CM --build /tmp/llb --target llama-bench -j 12 > /tmp/build.log 2>&1 ) || { tail -n 20 /tmp/cmake.log; tail -n 20 /tmp/build.log; }
LB=/tmp/llb/bin/llama-bench
if ! $LB --help > /dev/null 2>&1; then echo "native build failed; using the carried build"; LB=$D/llbin/llama-bench; export LD_LIBRARY_PATH=$D/lib:$D/llbin; fi
echo "== $(el)s llama-bench: $LB"
while [ ! -f $M/110m.done ] && [ $(el) -lt 300 ]; do sleep 2; done
for t in 1 2 16; do echo "{\"what\":\"bw\",\"threads\":$t,\"res\":$($H bench --mem-bandwidth -t $t)}" >> $R; done
bench() { # model type threads rounds
  local f=$M/$1-$2.gguf
  for r in $(seq $4); do
    [ $(el) -gt 320 ] && { echo "time is up at $1 $2 t=$3"; return; }
    echo "{\"what\":\"huddle\",\"model\":\"$1\",\"type\":\"$2\",\"threads\":$3,\"res\":$($H bench $f -p 128 -n 64 -t $3 -r 1 | tail -1)}" >> $R
    echo "{\"what\":\"llama\",\"model\":\"$1\",\"type\":\"$2\",\"threads\":$3,\"res\":[$($LB -m $f -p 128 -n 64 -t $3 -r 1 -fa 0 -o jsonl 2>/dev/null | paste -sd,)]}" >> $R
    echo "$(el)s $1 $2 t=$3 round $r done"
  done
}
for t in q4_0 q8_0 q4_k_m f16; do for th in 1 2; do bench 110m $t $th 2; done; done
for t in q4_0 q8_0 q4_k_m f16; do
  while [ ! -f $M/1.1b-$t.done ] && [ $(el) -lt 300 ]; do sleep 2; done
  bench 1.1b $t 2 2
done
for t in q4_0 q8_0 q4_k_m f16; do bench 1.1b $t 1 1; done
for t in 1 2; do echo "{\"what\":\"bw\",\"threads\":$t,\"res\":$($H bench --mem-bandwidth -t $t)}" >> $R; done
echo "== $(el)s done"
