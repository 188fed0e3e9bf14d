#!/usr/bin/env bash
# `make test`: the whole suite (pytest + nbval over notebooks/) as three pytest sessions at once, each on its own
# test slot (conftest.py: its own state folder, ports, lab and lock): while one session waits on a server, a
# Spark JVM or Airflow's scheduler, the others use the cores (issue 24). The notebooks stay in the first session,
# together and in order (each starts where the one before left off).
#
# The second and third sessions run the files listed in SECOND and THIRD below; the first runs everything else
# (pyproject.toml's testpaths with those files --ignore'd), so a new test file is never left out. The run fails if
# any session fails; the other sessions' output follows the first's. Extra arguments go to every session.
# LAB_TEST_SLOT=N picks the first session's slot (default 0); the others use LAB_TEST_SLOT2 (default N+5 mod 10)
# and LAB_TEST_SLOT3 (default N+3 mod 10).
# LAB_TEST_SESSIONS=1 runs the whole suite in one session instead (as `.venv/bin/pytest` does).
# Bash reads a script as it runs it: the body is one function, read whole before it starts, so that editing
# this file during a run (say, moving a file between the sessions) cannot change the run under way.
set -uo pipefail
cd "$(dirname "$0")/.."

main() {

    # A session's share is about a third of the suite's time; the first also runs the notebooks, one after another
    # (about 13 minutes when three sessions share 2 cores): move a file to balance.
    SECOND=(
        tests/test_aggregate_dummy.py
        tests/test_airflow_api.py
        tests/test_aws_faults.py
        tests/test_aws_growth.py
        tests/test_aws_policies.py
        tests/test_aws_profile.py
        tests/test_aws_rehearsal.py
        tests/test_cli_readme.py
        tests/test_emr_api_shapes.py
        tests/test_emr_dag.py
        tests/test_emr_endpoint.py
        tests/test_emr_exercises.py
        tests/test_emr_hardening.py
        tests/test_emr_timeouts.py
        tests/test_emr_watch.py
        tests/test_growing_dag.py
        tests/test_import_interval.py
        tests/test_screenshots.py
    )
    THIRD=(
        tests/faults
        tests/test_dags.py
        tests/test_dagtest_warm.py
        tests/test_exercises.py
        tests/test_prepare.py
        tests/test_workshop_emr_engine.py
    )

    slot=${LAB_TEST_SLOT:-0}
    if [ "${LAB_TEST_SESSIONS:-3}" = 1 ]; then          # the whole suite in one session (to compare, or to debug)
        exec env LAB_TEST_SLOT=$slot .venv/bin/pytest "$@"
    fi
    slot2=${LAB_TEST_SLOT2:-$(( (slot + 5) % 10 ))}
    slot3=${LAB_TEST_SLOT3:-$(( (slot + 3) % 10 ))}
    if [ "$slot" = "$slot2" ] || [ "$slot" = "$slot3" ] || [ "$slot2" = "$slot3" ]; then
        echo "scripts/test.sh: the three sessions need three slots (LAB_TEST_SLOT2, LAB_TEST_SLOT3)" >&2; exit 2
    fi
    ignore=()
    for path in "${SECOND[@]}" "${THIRD[@]}"; do
        [ -e "$path" ] || { echo "scripts/test.sh: $path (listed in SECOND or THIRD) does not exist" >&2; exit 2; }
        ignore+=("--ignore=$path")
    done

    log2=".lab-test${slot2}-session.log"
    log3=".lab-test${slot3}-session.log"
    echo "scripts/test.sh: ${#SECOND[@]} paths in a second session (LAB_TEST_SLOT=$slot2, output in $log2) and" \
         "${#THIRD[@]} in a third (LAB_TEST_SLOT=$slot3, output in $log3), shown at the end"
    # their own cache folders: every session writes its last failures at the end
    LAB_TEST_SLOT=$slot2 .venv/bin/pytest -o cache_dir=.pytest_cache/second "${SECOND[@]}" "$@" >"$log2" 2>&1 &
    second=$!
    LAB_TEST_SLOT=$slot3 .venv/bin/pytest -o cache_dir=.pytest_cache/third "${THIRD[@]}" "$@" >"$log3" 2>&1 &
    third=$!
    # A background job of a script ignores Ctrl-C: pass it on, so that its conftest stops its lab; then show its output.
    trap 'kill -INT $second $third 2>/dev/null; wait $second $third; cat "$log2" "$log3"; exit 130' INT TERM

    LAB_TEST_SLOT=$slot .venv/bin/pytest "${ignore[@]}" "$@"
    first_rc=$?
    wait $second
    second_rc=$?
    wait $third
    third_rc=$?
    echo
    echo "================ the second session (LAB_TEST_SLOT=$slot2): ${SECOND[*]} ================"
    cat "$log2"
    echo
    echo "================ the third session (LAB_TEST_SLOT=$slot3): ${THIRD[*]} ================"
    cat "$log3"
    echo "scripts/test.sh: first session exit $first_rc, second $second_rc, third $third_rc"
    [ "$first_rc" -eq 0 ] && [ "$second_rc" -eq 0 ] && [ "$third_rc" -eq 0 ]
}

main "$@"
exit $?
