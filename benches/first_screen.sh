#!/bin/bash
# Time from launching `cge` in a 160×50 tmux pane until the first table row is on screen
# (the footer's "1/N"), as a user sees it. Usage: benches/first_screen.sh BIN WORKSPACE
set -u
BIN=$(realpath "$1") WS=$(realpath "$2") S=cge-first-screen
tmux kill-session -t $S 2>/dev/null
START=$(mktemp)
tmux new-session -d -s $S -x 160 -y 50 "sleep 0.3; date +%s%N > $START; exec $BIN --workspace $WS"
until [ -s "$START" ]; do sleep 0.002; done
for _ in $(seq 5000); do
  if tmux capture-pane -p -t $S 2>/dev/null | grep -q " 1/"; then
    echo "first row after $(( ($(date +%s%N) - $(cat "$START")) / 1000000 )) ms"
    tmux send-keys -t $S q
    sleep 0.3
    tmux kill-session -t $S 2>/dev/null
    rm -f "$START"
    exit 0
  fi
  sleep 0.002
done
echo "no row on screen after 10 s:"; tmux capture-pane -p -t $S 2>/dev/null
tmux kill-session -t $S 2>/dev/null
rm -f "$START"
exit 1
