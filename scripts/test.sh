#!/usr/bin/env bash
# `make test`: the whole suite (pytest + nbval over notebooks/) as two pytest sessions at once, each on its own
# test slot (conftest.py: its own state folder, ports, lab and lock): while one session waits on a server, a
# Spark JVM or Airflow's scheduler, the other uses the core (issue 24). The notebooks stay in the first session,
# together and in order (each starts where the one before left off).
#
# The second session runs the files listed in SECOND below; the first runs everything else (pyproject.toml's
# testpaths with those files --ignore'd), so a new test file is never left out. The run fails if either fails;
# the second session's output follows the first's. Extra arguments go to both sessions.
# LAB_TEST_SLOT=N picks the first session's slot (default 0); the second uses LAB_TEST_SLOT2 (default N+5 mod 10).
# LAB_TEST_SESSIONS=1 runs the whole suite in one session instead (as `.venv/bin/pytest` does).
# Bash reads a script as it runs it: the body is one function, read whole before it starts, so that editing
# this file during a run (say, moving a file between the sessions) cannot change the run under way.
set -uo pipefail
cd "$(dirname "$0")/.."

main() {

    SECOND=(
        tests/faults
        tests/test_aggregate_dummy.py
        tests/test_airflow_api.py
        tests/test_aws_faults.py
        tests/test_aws_growth.py
        tests/test_aws_policies.py
        tests/test_aws_profile.py
        tests/test_aws_rehearsal.py
        tests/test_dags.py
        tests/test_emr_api_shapes.py
        tests/test_emr_dag.py
        tests/test_emr_endpoint.py
        tests/test_emr_exercises.py
        tests/test_emr_hardening.py
        tests/test_emr_timeouts.py
        tests/test_emr_watch.py
        tests/test_growing_dag.py
    )

    slot=${LAB_TEST_SLOT:-0}
    if [ "${LAB_TEST_SESSIONS:-2}" = 1 ]; then          # the whole suite in one session (to compare, or to debug)
        exec env LAB_TEST_SLOT=$slot .venv/bin/pytest "$@"
    fi
    slot2=${LAB_TEST_SLOT2:-$(( (slot + 5) % 10 ))}
    [ "$slot" != "$slot2" ] || { echo "scripts/test.sh: the two sessions need two slots (LAB_TEST_SLOT2)" >&2; exit 2; }
    ignore=()
    for path in "${SECOND[@]}"; do
        [ -e "$path" ] || { echo "scripts/test.sh: $path (listed in SECOND) does not exist" >&2; exit 2; }
        ignore+=("--ignore=$path")
    done

    log=".lab-test${slot2}-session.log"
    echo "scripts/test.sh: ${#SECOND[@]} paths in a second session (LAB_TEST_SLOT=$slot2, output in $log, shown at the end)"
    # its own cache folder: both sessions write their last failures at the end
    LAB_TEST_SLOT=$slot2 .venv/bin/pytest -o cache_dir=.pytest_cache/second "${SECOND[@]}" "$@" >"$log" 2>&1 &
    second=$!
    # A background job of a script ignores Ctrl-C: pass it on, so that its conftest stops its lab; then show its output.
    trap 'kill -INT $second 2>/dev/null; wait $second; cat "$log"; exit 130' INT TERM

    LAB_TEST_SLOT=$slot .venv/bin/pytest "${ignore[@]}" "$@"
    first_rc=$?
    wait $second
    second_rc=$?
    echo
    echo "================ the second session (LAB_TEST_SLOT=$slot2): ${SECOND[*]} ================"
    cat "$log"
    echo "scripts/test.sh: first session exit $first_rc, second session exit $second_rc"
    [ "$first_rc" -eq 0 ] && [ "$second_rc" -eq 0 ]
}

main "$@"
exit $?
