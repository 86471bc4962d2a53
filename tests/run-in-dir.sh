#!/bin/sh
# Runs a test command in a fresh, empty working directory of its own.
dir=$1
shift
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
exec "$@"
