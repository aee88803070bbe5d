// Drop by predicate: records that contain the `contains` param's text are dropped
// (say `"level":"debug"`), the others delivered unchanged. With `invert = "true"`
// only matching records are kept.
#include "sluice_transform.h"

static char *needle = NULL;
static size_t needle_len = 0;
static bool invert = false;

static bool contains(const uint8_t *data, size_t len) {
  if (needle_len == 0 || len < needle_len) return false;
  for (size_t i = 0; i + needle_len <= len; i++) {
    if (data[i] == (uint8_t)needle[0] && memcmp(data + i, needle, needle_len) == 0) return true;
  }
  return false;
}

bool exports_transformer_init(transformer_list_tuple2_string_string_t *params, transformer_string_t *err) {
  free(needle);
  needle = sluice_param(params, "contains");
  char *inv = sluice_param(params, "invert");
  invert = inv != NULL && strcmp(inv, "true") == 0;
  free(inv);
  transformer_list_tuple2_string_string_free(params);
  if (needle == NULL || needle[0] == 0) {
    transformer_string_dup(err, "param `contains` is required");
    return false;
  }
  needle_len = strlen(needle);
  sluice_log(2, invert ? "keeping only records that contain the text" : "dropping records that contain the text");
  return true;
}

void exports_transformer_transform(transformer_list_record_in_t *batch, transformer_list_record_out_t *ret) {
  sluice_answer_init(ret, batch->len);
  for (size_t i = 0; i < batch->len; i++) {
    transformer_record_in_t *in = &batch->ptr[i];
    if (contains(in->data.ptr, in->data.len) != invert) {
      sluice_drop(&ret->ptr[i], in);
    } else {
      sluice_keep(&ret->ptr[i], in);
    }
  }
  sluice_batch_free(batch);
}
