#!/usr/bin/env bash
# Runs the whole Gatehouse test suite on a Debian machine that has the .NET 10 SDK:
# installs the third-party clients the interop tests drive (tests/install-test-deps.sh), then builds and runs
# `dotnet test` on the solution. Exits non-zero when anything fails; the output ends with the test totals.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DEBIAN_FRONTEND=noninteractive

bash tests/install-test-deps.sh </dev/null

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# Minimal console verbosity prints each failed test (message, stack, captured output) and one summary line per
# test project: "Passed!  - Failed: 0, Passed: 12, Skipped: 0, Total: 12, Duration: 3 s - X.Tests.dll (net10.0)".
set +e
dotnet test Gatehouse.slnx -c Release --logger "console;verbosity=minimal" </dev/null 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

summaries="$(grep -E '^(Passed|Failed)! +- Failed: ' "$log" || true)"
echo
echo "Test summary:"
if [[ -z "$summaries" ]]; then
  echo "test.sh: dotnet test printed no test project summary (exit code $status)"
  exit $((status ? status : 1))
fi
echo "$summaries"
# Closing line: totals over all test projects.
awk '{
    for (i = 1; i < NF; i++) {
      v = $(i + 1); gsub(",", "", v)
      if ($i == "Failed:") f += v; else if ($i == "Passed:") p += v; else if ($i == "Skipped:") s += v
    }
  }
  END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' <<<"$summaries"
exit "$status"
