/* Compiled as C: the public header is valid C and the library round-trips an image. */
#include <lucid/lucid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: c_api_test MODEL\n");
    return 2;
  }
  enum { W = 48, H = 40 };
  static uint8_t rgb[W * H * 3];
  for (int i = 0; i < W * H * 3; ++i) rgb[i] = (uint8_t)((i * 7) % 251);
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
