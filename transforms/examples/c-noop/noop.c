// The smallest plugin: every record delivered unchanged. Used to measure what the
// host adds per batch.
#include "sluice_transform.h"

bool exports_transformer_init(transformer_list_tuple2_string_string_t *params, transformer_string_t *err) {
  (void)err;
  transformer_list_tuple2_string_string_free(params);
  return true;
}

void exports_transformer_transform(transformer_list_record_in_t *batch, transformer_list_record_out_t *ret) {
  sluice_answer_init(ret, batch->len);
  for (size_t i = 0; i < batch->len; i++) sluice_keep(&ret->ptr[i], &batch->ptr[i]);
  sluice_batch_free(batch);
}
