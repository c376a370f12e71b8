#!/usr/bin/env bash
# bench/against_peers.sh [BUILD_DIR] [OUT_DIR] — the benchmark table of bench/README.md beside every
# peer that ../shared/bench/setup_peers.sh installed, in one run: raoq at 1 and 2 threads, the
# current PyTorch at 1 and 2 threads, Debian's PyTorch and aihwkit at 1 thread, then the peak
# resident memory of one process timing the three memory benchmarks (GNU time's maximum RSS).
# Peers that are not installed are skipped with a line saying so. Run it with nothing else on the
# machine. Writes OUT_DIR/*.jsonl (default: a fresh folder under /tmp) and prints the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
bench="$(realpath "${1:-build}")/bench/raoq-bench"
out=${2:-$(mktemp -d /tmp/raoq_peers.XXXXXX)}
mkdir -p "$out"
peers=${RAOQ_PEERS:-/opt/raoq-peers}
shared=${RAOQ_PEER_SCRIPTS:-../shared/bench}
torch_new="$peers/torch/bin/python" aihwkit="$peers/aihwkit/bin/python" torch_debian=/usr/bin/python3

have() { [[ -x $1 ]] && "$1" -c "import $2" 2>/dev/null; }
run_peer() {  # NAME PYTHON MODULE SCRIPT OUT ARGS...
  local name=$1 py=$2 module=$3 script=$4 file=$5
  shift 5
  if have "$py" "$module"; then "$py" "$shared/$script" "$@" >> "$file"
  else echo "against_peers: $name is not installed ($py), skipped" >&2; fi
}

"$bench" --threads 1 > "$out/ours1.jsonl"
: > "$out/peer1.jsonl"
run_peer "PyTorch (current)" "$torch_new" torch torch_peer.py "$out/peer1.jsonl" --threads 1
run_peer "Debian's PyTorch" "$torch_debian" torch torch_peer.py "$out/peer1.jsonl" --threads 1
run_peer aihwkit "$aihwkit" aihwkit aihwkit_peer.py "$out/peer1.jsonl" --threads 1
"$bench" --threads 2 > "$out/ours2.jsonl"
: > "$out/peer2.jsonl"
run_peer "PyTorch (current)" "$torch_new" torch torch_peer.py "$out/peer2.jsonl" --threads 2

# Peak RSS (KiB) of one process timing five steps of each memory benchmark.
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1; }
: > "$out/rss.jsonl"
for name in cnn-small/fp/train_step cnn-small/bitaug/train_step gpt-tiny/fp/train_step; do
  ours=$(rss "$bench" --threads 1 --only "$name" --steps 5)
  peer=null
  have "$torch_new" torch && peer=$(rss "$torch_new" "$shared/torch_peer.py" --threads 1 --only "$name" --steps 5)
  echo "{\"name\": \"$name\", \"raoq_max_rss_kib\": $ours, \"pytorch_max_rss_kib\": $peer}" >> "$out/rss.jsonl"
done

# One column per peer implementation (compare.py pairs each name with one peer line only).
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
def lines(name):
    return [json.loads(l) for l in open(f"{out}/{name}") if l.strip()]
for t in (1, 2):
    ours = {d["name"]: d for d in lines(f"ours{t}.jsonl") if "median_ms" in d}
    peers = {}
    for d in lines(f"peer{t}.jsonl"):
        peers.setdefault(d["impl"], {})[d["name"]] = d["median_ms"]
    print(f"== {t} thread(s): raoq ms, then raoq / peer for each peer (below 1: raoq is faster)")
    print(f"{'benchmark':36s} {'raoq ms':>9s} " + " ".join(f"{impl[:24]:>24s}" for impl in peers))
    for name, d in ours.items():
        cells = [f"{d['median_ms'] / p[name]:24.2f}" if name in p else f"{'-':>24s}" for p in peers.values()]
        print(f"{name:36s} {d['median_ms']:9.2f} " + " ".join(cells))
PY
echo "== peak resident memory (KiB)"
cat "$out/rss.jsonl"
echo "against_peers: results in $out"
