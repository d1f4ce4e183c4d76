/* A media application's view of an installed Lucid: lucid.h and liblucid only, the default
 * models found without configuration (no LUCID_MODEL_DIR), a round trip and a restoration. */
#include <lucid/lucid.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  enum { W = 32, H = 32 };
  static uint8_t rgb[W * H * 3];
  for (int i = 0; i < W * H * 3; ++i) rgb[i] = (uint8_t)(i * 5 % 253);
  if (lucid_version_number() != LUCID_VERSION_NUMBER) return 1;
  lucid_context* ctx = NULL;
  if (lucid_context_create(NULL, LUCID_MODEL_CODEC, &ctx) != LUCID_OK) {
    fprintf(stderr, "codec: %s\n", lucid_last_error(NULL));
    return 1;
  }
  lucid_context_set_option(ctx, LUCID_OPT_THREADS, 1);
  uint8_t* bytes = NULL;
  size_t size = 0;
  uint8_t* out = NULL;
  uint32_t w = 0, h = 0;
  if (lucid_encode_image(ctx, rgb, W, H, W * 3, 50.0f, &bytes, &size) != LUCID_OK ||
      lucid_decode_image(ctx, bytes, size, &out, &w, &h) != LUCID_OK || w != W || h != H) {
    fprintf(stderr, "round trip: %s\n", lucid_last_error(ctx));
    return 1;
  }
  printf("%s: %ux%u -> %zu bytes\n", lucid_context_model_id(ctx), w, h, size);
  lucid_free(bytes);
  lucid_free(out);
  lucid_context_destroy(ctx);
  lucid_model* restorer = NULL;
  lucid_context_params p;
  lucid_context_params_init(&p);
  p.kind = LUCID_MODEL_RESTORE;
  if (lucid_model_load(&p, &restorer) != LUCID_OK) {
    fprintf(stderr, "restorer: %s\n", lucid_last_error(NULL));
    return 1;
  }
  printf("%s loaded\n", lucid_model_id(restorer));
  lucid_model_destroy(restorer);
  return 0;
}
