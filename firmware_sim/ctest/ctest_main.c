/* The runtime's C test suite (runtime_c/tests) as a Cortex-M firmware: the kernels are then
 * checked against the naive reference with the DSP (and, on cortex-m55, MVE) paths the host
 * build never compiles. tests/main.c is built with -Dmain=ecg_rt_ctest_main; this main runs it
 * and flushes stdio before startup.c's semihosting exit (ecg_edge/sim/ctest.py builds and runs). */
#include <stdio.h>

int ecg_rt_ctest_main(int argc, char **argv);

int main(void)
{
    static char name[] = "ecgrt_test";
    static char *argv[] = {name, 0};
    const int rc = ecg_rt_ctest_main(1, argv);
    fflush(stdout);
    fflush(stderr);
    return rc;
}
