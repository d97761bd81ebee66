#!/usr/bin/env bash
# `npm run lint`: the Rust crate's formatting and lints, and the page's: cargo fmt --check,
# cargo clippy on every target (warnings are errors), ESLint over www/ and tests/browser/,
# TypeScript's checker over www/ (JSDoc types with checkJs, nothing emitted; the generated
# www/pkg/ is declared by www/types/pkg/llm_xray.d.ts), and that www/protocol.js and
# src/wasm.rs name the same requests. Works on a clean clone before any build: it installs
# the npm packages (npm ci) and the rustfmt and clippy components when they are missing.
# Runs every check and fails if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in fmt clippy; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    component=$([ "$tool" = fmt ] && echo rustfmt || echo clippy)
    echo "== adding the $component Rust component"
    rustup component add "$component"
  fi
done
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi

failed=()
check() {
  local name=$1
  shift
  echo "== $name"
  "$@" || failed+=("$name")
}
check "cargo fmt --check" cargo fmt --check
check "cargo clippy --all-targets -- -D warnings" cargo clippy --all-targets --locked -- -D warnings
check "eslint www tests/browser" npx eslint www tests/browser
check "tsc --noEmit (the page)" npx tsc --noEmit -p tsconfig.json
check "tsc --noEmit (the worker)" npx tsc --noEmit -p tsconfig.worker.json
check "the page's and the engine's requests" node tests/browser/protocol.mjs

if [ ${#failed[@]} -gt 0 ]; then
  printf 'lint failed: %s\n' "${failed[@]}"
  exit 1
fi
echo "lint: all checks passed"
