// A test plugin that does, for each record, what the record's text asks:
//   FAIL       processing-failed, reason "asked to fail"
//   DROP       dropped
//   MISSING    no answer for this record (breaks the contract)
//   DUPLICATE  two answers for this record (breaks the contract)
//   TRAP       traps (the whole call fails)
//   LOOP       never returns (the deadline stops it)
//   BOMB       allocates until the memory limit stops it
//   REVERSE    the whole batch is answered in reverse order (allowed)
// anything else is delivered unchanged. Param `refuse` makes init fail with its value.
#include "sluice_transform.h"

static bool has(const transformer_record_in_t *in, const char *word) {
  size_t n = strlen(word);
  for (size_t i = 0; i + n <= in->data.len; i++) {
    if (memcmp(in->data.ptr + i, word, n) == 0) return true;
  }
  return false;
}

bool exports_transformer_init(transformer_list_tuple2_string_string_t *params, transformer_string_t *err) {
  char *refuse = sluice_param(params, "refuse");
  transformer_list_tuple2_string_string_free(params);
  if (refuse != NULL) {
    transformer_string_dup(err, refuse);
    free(refuse);
    return false;
  }
  return true;
}

volatile uint64_t sink;

void exports_transformer_transform(transformer_list_record_in_t *batch, transformer_list_record_out_t *ret) {
  size_t extra = 0;
  bool reverse = false;
  for (size_t i = 0; i < batch->len; i++) {
    transformer_record_in_t *in = &batch->ptr[i];
    if (has(in, "TRAP")) __builtin_trap();
    if (has(in, "LOOP")) for (;;) sink++;
    if (has(in, "BOMB")) {
      for (;;) {
        uint8_t *block = malloc(1 << 20);
        if (block == NULL) __builtin_trap();
        memset(block, 1, 1 << 20);
        sink += block[4096];
      }
    }
    if (has(in, "DUPLICATE")) extra++;
    if (has(in, "REVERSE")) reverse = true;
  }
  sluice_answer_init(ret, batch->len + extra);
  size_t n = 0;
  for (size_t i = 0; i < batch->len; i++) {
    transformer_record_in_t *in = &batch->ptr[i];
    if (has(in, "MISSING")) continue;
    if (has(in, "DUPLICATE")) ret->ptr[n++].record_id = in->record_id;
    if (has(in, "FAIL")) sluice_fail(&ret->ptr[n++], in, "asked to fail");
    else if (has(in, "DROP")) sluice_drop(&ret->ptr[n++], in);
    else sluice_keep(&ret->ptr[n++], in);
  }
  ret->len = n;
  for (size_t i = 0; reverse && i < n / 2; i++) {
    transformer_record_out_t t = ret->ptr[i];
    ret->ptr[i] = ret->ptr[n - 1 - i];
    ret->ptr[n - 1 - i] = t;
  }
  sluice_batch_free(batch);
}
