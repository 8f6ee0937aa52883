#!/bin/bash
# Run every test: the C unit tests (plain, under ASan/UBSan, and under
# valgrind) and the integration tests (pytest, booting real guests under
# KVM). Ends with one summary line: "N passed, N failed, N skipped".
set -u

BUILD=${1:-build}
PY=/usr/bin/python3
passed=0 failed=0 skipped=0
failures=()

# cmocka prints "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)" / "[  SKIPPED ] N test(s)".
count_cmocka() { # $1 = label, $2 = output file, $3 = exit status
	local p f s
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$2" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$2" | tail -1)
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$2" | tail -1)
	p=${p:-0} f=${f:-0} s=${s:-0}
	# A binary that crashed or printed no summary counts as one failure.
	if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	[ "$f" -eq 0 ] || failures+=("$1")
	printf '%-40s %3d passed, %d failed, %d skipped\n' "$1" "$p" "$f" "$s"
}

echo "== unit tests (plain, ASan/UBSan, valgrind) =="
mkdir -p "$BUILD/test-logs"
for t in "$BUILD"/tests/test_*; do
	case "$t" in *.d) continue ;; esac
	name=$(basename "$t")
	log="$BUILD/test-logs/$name.log"
	"$t" >"$log" 2>&1
	count_cmocka "unit $name" "$log" $?
	slog="$BUILD/test-logs/$name.san.log"
	"$BUILD/tests-san/$name" >"$slog" 2>&1
	count_cmocka "unit $name (asan/ubsan)" "$slog" $?
	vlog="$BUILD/test-logs/$name.valgrind.log"
	if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		"$t" >"$vlog" 2>&1; then
		passed=$((passed + 1))
		printf '%-40s   1 passed (no valgrind errors)\n' "unit $name (valgrind)"
	else
		failed=$((failed + 1))
		failures+=("unit $name (valgrind)")
		printf '%-40s   0 passed, 1 failed: see %s\n' "unit $name (valgrind)" "$vlog"
	fi
done

echo "== integration tests (pytest) =="
xml="$BUILD/test-logs/pytest.xml"
rm -f "$xml"
LMIG_BUILD="$BUILD" "$PY" -m pytest -ra -q -p no:cacheprovider --junitxml="$xml" tests/integration
rc=$?
if [ -f "$xml" ]; then
	read -r p f s < <("$PY" - "$xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = sum(int(x.get("tests", 0)) for x in suites)
f = sum(int(x.get("failures", 0)) + int(x.get("errors", 0)) for x in suites)
s = sum(int(x.get("skipped", 0)) for x in suites)
print(t - f - s, f, s)
PYEOF
	)
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	[ "$f" -eq 0 ] || failures+=("integration ($f)")
fi
# pytest exit 5 = no tests collected: that is a failure of the suite, not a pass.
if [ ! -f "$xml" ] || [ "$rc" -eq 5 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; }; then
	failed=$((failed + 1))
	failures+=("pytest exited with status $rc")
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
