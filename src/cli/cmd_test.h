/* `lqmf test` as a call for other commands: quantize runs the quick test
 * of every artifact it writes. */
#ifndef LQMF_CLI_CMD_TEST_H
#define LQMF_CLI_CMD_TEST_H

/* Quick-test the model at path against baseline (NULL: found through the
 * artifact's provenance or the experiment store), print the report, save
 * the JSON under benchmarks/ ($LQMF_BENCHMARKS_DIR) and record it in the
 * experiment store when one exists. Returns the exit code `lqmf test`
 * would: 0 pass or unmeasured, 3 verdict fail, 1 error. */
int lqmf_cli_test_artifact(const char *path, const char *baseline);

#endif
