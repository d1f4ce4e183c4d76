/* Compiled as C: JPEG restoration through the public C API (lucid_restore_jpeg and
 * lucid_restore_rgb, their _ex forms with metadata, one restorer model shared by two threads),
 * with the random-weight test restorer and a small QF-25 JPEG. */
#include <lucid/lucid.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char* what, lucid_status s, const lucid_context* ctx) {
  fprintf(stderr, "%s: %s: %s\n", what, lucid_status_str(s), lucid_last_error(ctx));
  return 1;
}

static int abort_at_first_tile(void* user_data, uint64_t done, uint64_t total) {
  (void)total;
  ++*(int*)user_data;
  return done >= 1;
}

typedef struct {
  lucid_model* model;
  const uint8_t* jpeg;
  size_t size;
  uint8_t* rgb;
  lucid_restore_info info;
  lucid_status status;
} RestoreJob;

static void* restore_on_own_context(void* arg) {
  RestoreJob* job = (RestoreJob*)arg;
  lucid_context* ctx = NULL;
  job->status = lucid_context_create_from_model(job->model, &ctx);
  if (job->status != LUCID_OK) return NULL;
  lucid_context_set_option(ctx, LUCID_OPT_THREADS, 1);
  lucid_restore_info_init(&job->info);
  job->status = lucid_restore_jpeg_ex(ctx, job->jpeg, job->size, &job->rgb, &job->info);
  lucid_context_destroy(ctx);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: c_api_restore_test RESTORER.lucidw IMAGE.jpg\n");
    return 2;
  }
  static uint8_t jpeg[1 << 16];
  FILE* f = fopen(argv[2], "rb");
  if (!f) return fail("open jpeg", LUCID_ERROR_INVALID_ARGUMENT, NULL);
  const size_t size = fread(jpeg, 1, sizeof jpeg, f);
  fclose(f);

  lucid_context* ctx = NULL;
  lucid_status s = lucid_context_create(argv[1], LUCID_MODEL_RESTORE, &ctx);
  if (s != LUCID_OK) return fail("create", s, NULL);
  if (strcmp(lucid_context_model_id(ctx), "codiff-tiny") != 0) return fail("model id", s, ctx);
  lucid_context_set_option(ctx, LUCID_OPT_THREADS, 1);

  uint8_t* rgb = NULL;
  uint32_t w = 0, h = 0;
  s = lucid_restore_jpeg(ctx, jpeg, size, &rgb, &w, &h);
  if (s != LUCID_OK || w != 120 || h != 88 || !rgb) return fail("restore_jpeg", s, ctx);

  /* Without the projection onto the file's quantization intervals the output differs; the
   * option values are checked. */
  {
    uint8_t* raw = NULL;
    uint32_t rw = 0, rh = 0;
    if (lucid_context_set_option(ctx, LUCID_OPT_JPEG_CONSTRAINT, 2) != LUCID_ERROR_INVALID_ARGUMENT ||
        lucid_context_set_option(ctx, LUCID_OPT_JPEG_QF, 101) != LUCID_ERROR_INVALID_ARGUMENT ||
        lucid_context_set_option(ctx, LUCID_OPT_JPEG_QF, -1) != LUCID_ERROR_INVALID_ARGUMENT)
      return fail("bad restoration option accepted", LUCID_OK, ctx);
    s = lucid_context_set_option(ctx, LUCID_OPT_JPEG_CONSTRAINT, 0);
    if (s != LUCID_OK) return fail("set JPEG_CONSTRAINT", s, ctx);
    s = lucid_restore_jpeg(ctx, jpeg, size, &raw, &rw, &rh);
    if (s != LUCID_OK || rw != w || rh != h) return fail("restore_jpeg unconstrained", s, ctx);
    if (memcmp(raw, rgb, (size_t)w * h * 3) == 0) return fail("projection changed nothing", s, ctx);
    lucid_free(raw);
    s = lucid_context_set_option(ctx, LUCID_OPT_JPEG_CONSTRAINT, 1);
    if (s != LUCID_OK) return fail("set JPEG_CONSTRAINT", s, ctx);
    s = lucid_context_set_option(ctx, LUCID_OPT_JPEG_QF, 60);
    if (s != LUCID_OK) return fail("set JPEG_QF", s, ctx);
    s = lucid_restore_jpeg(ctx, jpeg, size, &raw, &rw, &rh);
    if (s != LUCID_OK) return fail("restore_jpeg with QF", s, ctx);
    lucid_free(raw);
    lucid_context_set_option(ctx, LUCID_OPT_JPEG_QF, 0);
  }

  /* Decoded pixels with a known QF and with an unknown one (CaVE), with a padded stride. */
  const size_t stride = (size_t)w * 3 + 4;
  uint8_t* padded = (uint8_t*)calloc(stride * h, 1);
  for (uint32_t y = 0; y < h; ++y) memcpy(padded + y * stride, rgb + (size_t)y * w * 3, (size_t)w * 3);
  uint8_t* out = NULL;
  s = lucid_restore_rgb(ctx, padded, w, h, stride, 25, &out);
  if (s != LUCID_OK || !out) return fail("restore_rgb known QF", s, ctx);
  lucid_free(out);
  out = NULL;
  s = lucid_restore_rgb(ctx, padded, w, h, stride, 0, &out);
  if (s != LUCID_OK || !out) return fail("restore_rgb unknown QF", s, ctx);
  lucid_free(out);
  out = NULL;

  /* Metadata: the file's tables are IJG quality 25 and the result is projected onto them. */
  {
    lucid_restore_info info;
    lucid_restore_info_init(&info);
    uint8_t* ex = NULL;
    s = lucid_restore_jpeg_ex(ctx, jpeg, size, &ex, &info);
    if (s != LUCID_OK || info.struct_size != sizeof info || info.width != w || info.height != h ||
        info.quality != 25 || info.quality_source != LUCID_QUALITY_FROM_FILE_TABLES ||
        info.constrained != 1 || info.tiles < 1 || !(info.model_quality >= 1.0f))
      return fail("restore_jpeg_ex metadata", s, ctx);
    if (memcmp(ex, rgb, (size_t)w * h * 3) != 0) return fail("_ex differs from plain", s, ctx);
    lucid_free(ex);
    /* A user quality factor, and no projection. */
    lucid_context_set_option(ctx, LUCID_OPT_JPEG_QF, 60);
    lucid_context_set_option(ctx, LUCID_OPT_JPEG_CONSTRAINT, 0);
    s = lucid_restore_jpeg_ex(ctx, jpeg, size, &ex, &info);
    if (s != LUCID_OK || info.quality != 60 || info.quality_source != LUCID_QUALITY_FROM_USER ||
        info.constrained != 0)
      return fail("restore_jpeg_ex metadata with QF 60, unconstrained", s, ctx);
    lucid_free(ex);
    lucid_context_set_option(ctx, LUCID_OPT_JPEG_QF, 0);
    lucid_context_set_option(ctx, LUCID_OPT_JPEG_CONSTRAINT, 1);
    /* Pixels with an unknown quality: the model's estimate. */
    s = lucid_restore_rgb_ex(ctx, padded, w, h, stride, 0, &ex, &info);
    if (s != LUCID_OK || info.quality_source != LUCID_QUALITY_FROM_MODEL || info.constrained != 0 ||
        info.quality < 1 || info.quality > 100)
      return fail("restore_rgb_ex metadata", s, ctx);
    lucid_free(ex);
    /* A caller built against an older, shorter struct: only the fields it has are written. */
    struct {
      lucid_restore_info info;
      uint32_t guard;
    } old;
    memset(&old, 0xAB, sizeof old);
    old.info.struct_size = (uint32_t)offsetof(lucid_restore_info, quality_source);
    s = lucid_restore_jpeg_ex(ctx, jpeg, size, &ex, &old.info);
    if (s != LUCID_OK || old.info.quality != 25 || old.info.width != w ||
        old.info.struct_size != offsetof(lucid_restore_info, quality_source) ||
        old.info.constrained != (int32_t)0xABABABAB)
      return fail("short lucid_restore_info", s, ctx);
    lucid_free(ex);
    lucid_restore_info bad;
    memset(&bad, 0, sizeof bad);
    if (lucid_restore_jpeg_ex(ctx, jpeg, size, &ex, &bad) != LUCID_ERROR_INVALID_ARGUMENT)
      return fail("uninitialised lucid_restore_info accepted", s, ctx);
  }

  /* One restorer model shared by two threads, a context each: both get the single-thread
   * result and its metadata. */
  {
    lucid_context_params p;
    lucid_context_params_init(&p);
    p.kind = LUCID_MODEL_RESTORE;
    p.weights_path = argv[1];
    lucid_model* model = NULL;
    s = lucid_model_load(&p, &model);
    if (s != LUCID_OK || lucid_model_get_kind(model) != LUCID_MODEL_RESTORE ||
        strcmp(lucid_model_id(model), "codiff-tiny") != 0)
      return fail("model_load restorer", s, NULL);
    RestoreJob jobs[2];
    pthread_t threads[2];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 2; ++i) {
      jobs[i].model = model;
      jobs[i].jpeg = jpeg;
      jobs[i].size = size;
      if (pthread_create(&threads[i], NULL, restore_on_own_context, &jobs[i]) != 0) return 1;
    }
    for (int i = 0; i < 2; ++i) pthread_join(threads[i], NULL);
    lucid_model_destroy(model);
    for (int i = 0; i < 2; ++i) {
      if (jobs[i].status != LUCID_OK || jobs[i].info.quality != 25 || jobs[i].info.constrained != 1)
        return fail("restore on a shared model", jobs[i].status, NULL);
      if (memcmp(jobs[i].rgb, rgb, (size_t)w * h * 3) != 0)
        return fail("shared-model restore differs from the single-thread one", LUCID_OK, NULL);
      lucid_free(jobs[i].rgb);
    }
  }

  /* Errors are statuses with a message, never crashes. */
  if (lucid_restore_rgb(ctx, padded, w, h, stride, 101, &out) != LUCID_ERROR_INVALID_ARGUMENT)
    return fail("qf 101 accepted", s, ctx);
  if (lucid_restore_rgb(ctx, padded, 0, h, stride, 0, &out) != LUCID_ERROR_INVALID_ARGUMENT)
    return fail("zero width accepted", s, ctx);
  if (lucid_restore_jpeg(ctx, NULL, size, &rgb, &w, &h) != LUCID_ERROR_INVALID_ARGUMENT)
    return fail("NULL jpeg accepted", s, ctx);
  s = lucid_restore_jpeg(ctx, jpeg, size / 2, &out, &w, &h);
  if (s != LUCID_ERROR_BAD_IMAGE || strlen(lucid_last_error(ctx)) == 0)
    return fail("truncated jpeg", s, ctx);
  s = lucid_restore_jpeg(ctx, (const uint8_t*)"not a jpeg", 10, &out, &w, &h);
  if (s != LUCID_ERROR_BAD_IMAGE) return fail("non-jpeg", s, ctx);
  lucid_context_set_option(ctx, LUCID_OPT_MAX_PIXELS, 1000);
  s = lucid_restore_jpeg(ctx, jpeg, size, &out, &w, &h);
  if (s != LUCID_ERROR_LIMIT_EXCEEDED) return fail("pixel limit", s, ctx);
  lucid_context_set_option(ctx, LUCID_OPT_MAX_PIXELS, 1 << 28);
  /* A context holding a restorer refuses codec calls. */
  uint8_t* bytes = NULL;
  size_t nbytes = 0;
  if (lucid_encode_image(ctx, padded, w, h, stride, 50.0f, &bytes, &nbytes) !=
      LUCID_ERROR_INVALID_ARGUMENT)
    return fail("encode on a restorer", s, ctx);
  /* Abort from the progress callback (tile 256 on a 600x300 image: several tiles). */
  {
    enum { BW = 600, BH = 300 };
    uint8_t* big = (uint8_t*)malloc((size_t)BW * BH * 3);
    for (size_t i = 0; i < (size_t)BW * BH * 3; ++i) big[i] = (uint8_t)(i * 13 % 255);
    int calls = 0;
    lucid_context_set_option(ctx, LUCID_OPT_TILE, 256);
    lucid_context_set_progress(ctx, abort_at_first_tile, &calls);
    s = lucid_restore_rgb(ctx, big, BW, BH, (size_t)BW * 3, 30, &out);
    if (s != LUCID_ERROR_ABORTED || calls != 1) return fail("abort", s, ctx);
    lucid_context_set_progress(ctx, NULL, NULL);
    free(big);
  }
  /* A codec weight file is not a restorer. */
  if (argc > 3) {
    lucid_context* bad = NULL;
    s = lucid_context_create(argv[3], LUCID_MODEL_RESTORE, &bad);
    if (s != LUCID_ERROR_MODEL || bad) return fail("codec file as restorer", s, NULL);
  }
  free(padded);
  lucid_free(rgb);
  lucid_context_destroy(ctx);
  printf("c api restore ok\n");
  return 0;
}
