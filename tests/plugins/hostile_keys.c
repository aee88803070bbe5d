// A test plugin for the torture run: it gives each record a partition key `k`
// that no object store would take as a key segment, or an odd one that it would,
// and drops or fails some. The choice follows the record's byte 12 (the first
// byte after the torture run's record header; 2 for shorter records), so the test
// can tell each record's fate:
//   byte % 16 == 0   dropped
//   byte % 16 == 1   processing-failed, reason "hostile"
//   otherwise        kept, k = one of the values below, by byte % 8
#include "sluice_transform.h"

static const char *const VALUES[8] = {
    "", ".", "..", "a/b", "ctl\x01", "ok", NULL /* 300 characters */, "\xc3\xbcn\xc3\xaf",
};

bool exports_transformer_init(transformer_list_tuple2_string_string_t *params, transformer_string_t *err) {
  (void)err;
  transformer_list_tuple2_string_string_free(params);
  return true;
}

static void set_key(transformer_record_out_t *out, unsigned selector) {
  transformer_tuple2_string_string_t *kv = calloc(1, sizeof(*kv));
  transformer_string_dup(&kv->f0, "k");
  const char *value = VALUES[selector % 8];
  if (value == NULL) {
    char *long_value = malloc(301);
    memset(long_value, 'x', 300);
    long_value[300] = 0;
    transformer_string_dup(&kv->f1, long_value);
    free(long_value);
  } else {
    transformer_string_dup(&kv->f1, value);
  }
  out->outcome.val.ok.partition_keys.ptr = kv;
  out->outcome.val.ok.partition_keys.len = 1;
}

void exports_transformer_transform(transformer_list_record_in_t *batch, transformer_list_record_out_t *ret) {
  sluice_answer_init(ret, batch->len);
  for (size_t i = 0; i < batch->len; i++) {
    transformer_record_in_t *in = &batch->ptr[i];
    unsigned selector = in->data.len > 12 ? in->data.ptr[12] : 2;
    if (selector % 16 == 0) {
      sluice_drop(&ret->ptr[i], in);
    } else if (selector % 16 == 1) {
      sluice_fail(&ret->ptr[i], in, "hostile");
    } else {
      sluice_keep(&ret->ptr[i], in);
      set_key(&ret->ptr[i], selector);
    }
  }
  sluice_batch_free(batch);
}
