/* Compiled as C: the public header is valid C and the library round-trips an image; one model
 * handle shared by two threads, each with its own context, gives the single-thread bytes. */
#include <lucid/lucid.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if LUCID_VERSION_NUMBER != LUCID_VERSION_MAJOR * 10000 + LUCID_VERSION_MINOR * 100 + LUCID_VERSION_PATCH
#error "LUCID_VERSION_NUMBER is inconsistent"
#endif

enum { W = 48, H = 40 };
static uint8_t rgb[W * H * 3];

typedef struct {
  lucid_model* model;
  uint8_t* bytes;
  size_t size;
  lucid_status status;
} EncodeJob;

static void* encode_on_own_context(void* arg) {
  EncodeJob* job = (EncodeJob*)arg;
  lucid_context* ctx = NULL;
  job->status = lucid_context_create_from_model(job->model, &ctx);
  if (job->status != LUCID_OK) return NULL;
  lucid_context_set_option(ctx, LUCID_OPT_THREADS, 1);
  for (int round = 0; round < 2 && job->status == LUCID_OK; ++round) {
    lucid_free(job->bytes);
    job->bytes = NULL;
    job->status = lucid_encode_image(ctx, rgb, W, H, W * 3, 60.0f, &job->bytes, &job->size);
  }
  lucid_context_destroy(ctx);
  return NULL;
}

static int shared_model_across_threads(const char* weights, const uint8_t* expect,
                                       size_t expect_size) {
  lucid_context_params p;
  lucid_context_params_init(&p);
  p.kind = LUCID_MODEL_CODEC;
  p.weights_path = weights;
  lucid_model* model = NULL;
  if (lucid_model_load(&p, &model) != LUCID_OK) {
    fprintf(stderr, "model_load: %s\n", lucid_last_error(NULL));
    return 1;
  }
  if (strcmp(lucid_model_id(model), "fat-tiny") != 0 ||
      lucid_model_get_kind(model) != LUCID_MODEL_CODEC) {
    fprintf(stderr, "model id/kind: %s\n", lucid_model_id(model));
    return 1;
  }
  EncodeJob jobs[2];
  pthread_t threads[2];
  memset(jobs, 0, sizeof jobs);
  for (int i = 0; i < 2; ++i) {
    jobs[i].model = model;
    if (pthread_create(&threads[i], NULL, encode_on_own_context, &jobs[i]) != 0) return 1;
  }
  for (int i = 0; i < 2; ++i) pthread_join(threads[i], NULL);
  for (int i = 0; i < 2; ++i) {
    if (jobs[i].status != LUCID_OK) {
      fprintf(stderr, "thread %d: %s\n", i, lucid_status_str(jobs[i].status));
      return 1;
    }
    if (jobs[i].size != expect_size || memcmp(jobs[i].bytes, expect, expect_size) != 0) {
      fprintf(stderr, "thread %d: stream differs from the single-thread one\n", i);
      return 1;
    }
    lucid_free(jobs[i].bytes);
  }
  /* The model handle may go first: a context made from it keeps the weights. */
  lucid_context* late = NULL;
  if (lucid_context_create_from_model(model, &late) != LUCID_OK) return 1;
  lucid_model_destroy(model);
  uint8_t* bytes = NULL;
  size_t size = 0;
  if (lucid_encode_image(late, rgb, W, H, W * 3, 60.0f, &bytes, &size) != LUCID_OK ||
      size != expect_size || memcmp(bytes, expect, size) != 0) {
    fprintf(stderr, "context outliving its model handle: %s\n", lucid_last_error(late));
    return 1;
  }
  if (strcmp(lucid_context_model_id(late), "fat-tiny") != 0) return 1;
  lucid_free(bytes);
  lucid_context_destroy(late);
  /* Bad arguments are statuses. */
  if (lucid_context_create_from_model(NULL, &late) != LUCID_ERROR_INVALID_ARGUMENT ||
      lucid_model_load(NULL, &model) != LUCID_ERROR_INVALID_ARGUMENT)
    return 1;
  lucid_model_destroy(NULL);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: c_api_test MODEL\n");
    return 2;
  }
  for (int i = 0; i < W * H * 3; ++i) rgb[i] = (uint8_t)((i * 7) % 251);
  if (lucid_version_number() != LUCID_VERSION_NUMBER) {
    fprintf(stderr, "header version %d, library %u\n", LUCID_VERSION_NUMBER,
            (unsigned)lucid_version_number());
    return 1;
  }
  lucid_context* ctx = NULL;
  if (lucid_context_create(argv[1], LUCID_MODEL_CODEC, &ctx) != LUCID_OK) {
    fprintf(stderr, "create: %s\n", lucid_last_error(NULL));
    return 1;
  }
  uint8_t* bytes = NULL;
  size_t size = 0;
  lucid_status s = lucid_encode_image(ctx, rgb, W, H, W * 3, 60.0f, &bytes, &size);
  if (s != LUCID_OK || size == 0) {
    fprintf(stderr, "encode: %s: %s\n", lucid_status_str(s), lucid_last_error(ctx));
    return 1;
  }
  if (shared_model_across_threads(argv[1], bytes, size) != 0) return 1;
  uint8_t* out = NULL;
  uint32_t w = 0, h = 0;
  s = lucid_decode_image(ctx, bytes, size, &out, &w, &h);
  if (s != LUCID_OK || w != W || h != H) {
    fprintf(stderr, "decode: %s: %s\n", lucid_status_str(s), lucid_last_error(ctx));
    return 1;
  }
  /* A corrupt stream is an error status, never a crash. */
  bytes[size / 2] ^= 0x10;
  uint8_t* out2 = NULL;
  s = lucid_decode_image(ctx, bytes, size, &out2, &w, &h);
  if (s == LUCID_OK) {
    fprintf(stderr, "corrupt stream decoded without error\n");
    return 1;
  }
  if (strlen(lucid_last_error(ctx)) == 0) return 1;
  lucid_free(bytes);
  lucid_free(out);
  lucid_free(out2);
  lucid_context_destroy(ctx);
  printf("c api ok: %s\n", lucid_version());
  return 0;
}
