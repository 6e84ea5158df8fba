/* The job block QEMU places at the board's I/O window (-device loader,...,force-raw=on):
 * a 32-byte header followed by n_windows input windows of window_bytes each. The model bytes
 * go to the flash region reserved by the linker (__model_start). Little-endian u32 fields;
 * ecg_edge/sim/job.py writes the same layout. */
#ifndef ECG_SIM_JOB_H
#define ECG_SIM_JOB_H

#include <stdint.h>

#define ECG_JOB_MAGIC 0x4A474345u /* "ECGJ" */
#define ECG_JOB_VERSION 1u
#define ECG_JOB_FLAG_TIMER 1u     /* read the CMSDK timer around each inference (-icount check) */

typedef struct {
    uint32_t magic;
    uint32_t version;
    uint32_t model_size;
    uint32_t n_windows;
    uint32_t window_bytes;
    uint32_t flags;
    uint32_t reserved[2];
} ecg_job_header;

/* Exit statuses of the firmware itself (runtime statuses are 0..63). */
#define ECG_SIM_E_JOB 64u          /* job header missing or inconsistent */
#define ECG_SIM_E_MODEL_RESERVE 65u /* model larger than the linked model region */
#define ECG_SIM_E_ARENA_RESERVE 66u /* model's arena larger than the linked arena */
#define ECG_SIM_E_WINDOW_RESERVE 67u /* window larger than the linked window buffer */
#define ECG_SIM_E_STACK 68u         /* stack paint fully consumed: stack overflow */

#endif
