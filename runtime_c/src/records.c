/* Decoding of the fixed-size TENSORS and OPS records (FORMAT.md sections 5 and 6). */
#include "ecg_rt_internal.h"

void ecg_rt_tensor_decode(const uint8_t *rec, ecg_rt_tensor *t)
{
    t->len = ecg_rt_rd32(rec + 0);
    t->channels = ecg_rt_rd32(rec + 4);
    t->zero_point = ecg_rt_rdi32(rec + 12);
    t->arena_offset = ecg_rt_rd32(rec + 16);
    t->size_bytes = ecg_rt_rd32(rec + 20);
    t->flags = ecg_rt_rd32(rec + 24);
}

void ecg_rt_op_decode(const uint8_t *rec, ecg_rt_op *op)
{
    uint32_t j;
    op->type = ecg_rt_rd16(rec + 0);
    op->flags = ecg_rt_rd16(rec + 2);
    op->in0 = ecg_rt_rd16(rec + 4);
    op->in1 = ecg_rt_rd16(rec + 6);
    op->out = ecg_rt_rd16(rec + 8);
    op->reserved = ecg_rt_rd16(rec + 10);
    op->act_min = ecg_rt_rdi32(rec + 12);
    op->act_max = ecg_rt_rdi32(rec + 16);
    op->weight_block = ecg_rt_rd32(rec + 20);
    op->weight_size = ecg_rt_rd32(rec + 24);
    for (j = 0; j < 9u; ++j) op->p[j] = ecg_rt_rd32(rec + 28u + 4u * j);
}
