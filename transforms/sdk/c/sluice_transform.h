// Helpers for writing a Sluice transform plugin in C, on top of the bindings that
// `wit-bindgen c transforms/wit --world transformer` generates (transformer.h).
//
// Ownership follows the Component Model: the plugin owns the batch it is given and
// the daemon frees the answer after the call. These helpers move each input's
// record id and data into the answer, so nothing is copied unless the plugin
// writes new data, and free what is left of the batch at the end.
#ifndef SLUICE_TRANSFORM_H
#define SLUICE_TRANSFORM_H

#include <stdlib.h>
#include <string.h>
#include "transformer.h"

// Starts an answer with room for one result per input record.
static inline void sluice_answer_init(transformer_list_record_out_t *ret, size_t n) {
  ret->len = n;
  ret->ptr = n ? calloc(n, sizeof(transformer_record_out_t)) : NULL;
}

// The record is delivered as it is.
static inline void sluice_keep(transformer_record_out_t *out, transformer_record_in_t *in) {
  out->record_id = in->record_id;
  out->outcome.tag = SLUICE_TRANSFORM_TYPES_OUTCOME_OK;
  out->outcome.val.ok.data = in->data;
  out->outcome.val.ok.partition_keys.ptr = NULL;
  out->outcome.val.ok.partition_keys.len = 0;
  in->data.ptr = NULL;
}

// The record is delivered with new data (`data` must come from malloc: the
// daemon frees it).
static inline void sluice_replace(transformer_record_out_t *out, transformer_record_in_t *in, uint8_t *data, size_t len) {
  sluice_keep(out, in);
  free(out->outcome.val.ok.data.ptr);
  out->outcome.val.ok.data.ptr = data;
  out->outcome.val.ok.data.len = len;
}

// The record is dropped: it leaves no trace.
static inline void sluice_drop(transformer_record_out_t *out, transformer_record_in_t *in) {
  out->record_id = in->record_id;
  out->outcome.tag = SLUICE_TRANSFORM_TYPES_OUTCOME_DROPPED;
}

// The record goes to the error output with its raw data and this reason.
static inline void sluice_fail(transformer_record_out_t *out, transformer_record_in_t *in, const char *reason) {
  out->record_id = in->record_id;
  out->outcome.tag = SLUICE_TRANSFORM_TYPES_OUTCOME_PROCESSING_FAILED;
  transformer_string_dup(&out->outcome.val.processing_failed, reason);
}

// Frees what the answer did not take from the batch.
static inline void sluice_batch_free(transformer_list_record_in_t *batch) {
  for (size_t i = 0; i < batch->len; i++) {
    transformer_record_in_t *in = &batch->ptr[i];
    free(in->data.ptr);
    sluice_transform_types_option_kinesis_metadata_free(&in->kinesis);
  }
  free(batch->ptr);
}

// The value of param `key`, copied into a NUL-terminated string, or NULL.
static inline char *sluice_param(const transformer_list_tuple2_string_string_t *params, const char *key) {
  size_t key_len = strlen(key);
  for (size_t i = 0; i < params->len; i++) {
    const transformer_tuple2_string_string_t *p = &params->ptr[i];
    if (p->f0.len == key_len && memcmp(p->f0.ptr, key, key_len) == 0) {
      char *value = malloc(p->f1.len + 1);
      memcpy(value, p->f1.ptr, p->f1.len);
      value[p->f1.len] = 0;
      return value;
    }
  }
  return NULL;
}

// Logs a message to the daemon's log (levels: 0 error ... 4 trace).
static inline void sluice_log(uint8_t level, const char *message) {
  transformer_string_t text = {(uint8_t *)message, strlen(message)};
  transformer_log(level, &text);
}

#endif
