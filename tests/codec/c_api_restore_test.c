/* Compiled as C: JPEG restoration through the public C API (lucid_restore_jpeg and
 * lucid_restore_rgb), with the random-weight test restorer and a small QF-25 JPEG. */
#include <lucid/lucid.h>
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
