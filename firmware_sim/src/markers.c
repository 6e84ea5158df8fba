#include <stdint.h>

#include "markers.h"

volatile uint32_t ecg_sim_marker;

/* Not inlined, and storing different values so identical-code folding never merges them. */
__attribute__((noinline, used)) void ecg_sim_mark_start(void) { ecg_sim_marker = 1u; }
__attribute__((noinline, used)) void ecg_sim_mark_end(void) { ecg_sim_marker = 2u; }
