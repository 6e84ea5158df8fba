/* The instruction-count plugin (firmware_sim/plugin/insn_count.c) counts the instructions
 * executed from the entry of ecg_sim_mark_start to the entry of ecg_sim_mark_end; it finds both
 * by symbol in the ELF. */
#ifndef ECG_SIM_MARKERS_H
#define ECG_SIM_MARKERS_H

void ecg_sim_mark_start(void);
void ecg_sim_mark_end(void);

#endif
