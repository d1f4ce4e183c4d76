/* A media application's view of an installed Lucid: lucid.h and liblucid only, the default
 * models found without configuration (no LUCID_MODEL_DIR), a round trip, a restoration and a
 * frame through the streaming video restorer, and the shipped video network loaded. */
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

  /* One 4:2:0 frame through the streaming video restorer (this version: the pass-through). */
  lucid_model* video = NULL;
  p.kind = LUCID_MODEL_VIDEO_RESTORER;
  lucid_video_stream* vs = NULL;
  if (lucid_model_load(&p, &video) != LUCID_OK || lucid_video_stream_create(video, NULL, &vs) != LUCID_OK) {
    fprintf(stderr, "video: %s\n", lucid_last_error(NULL));
    return 1;
  }
  lucid_video_frame in, res;
  lucid_video_frame_init(&in);
  lucid_video_frame_init(&res);
  in.width = W;
  in.height = H;
  in.planes[0] = rgb;
  in.planes[1] = rgb + W * H;
  in.planes[2] = rgb + W * H + W * H / 4;
  in.strides[0] = W;
  in.strides[1] = in.strides[2] = W / 2;
  if (lucid_video_stream_push(vs, &in) != LUCID_OK || lucid_video_stream_flush(vs) != LUCID_OK ||
      lucid_video_stream_pull(vs, &res) != LUCID_OK || memcmp(res.planes[0], rgb, W * H) != 0 ||
      lucid_video_stream_pull(vs, &res) != LUCID_END_OF_STREAM) {
    fprintf(stderr, "video stream: %s\n", lucid_video_stream_last_error(vs));
    return 1;
  }
  printf("video stream (%s): 1 frame\n", lucid_model_id(video));
  lucid_video_stream_destroy(vs);
  lucid_model_destroy(video);

  /* The shipped video network is found in the installed data folder too. */
  p.weights_path = "default";
  if (lucid_model_load(&p, &video) != LUCID_OK) {
    fprintf(stderr, "video network: %s\n", lucid_last_error(NULL));
    return 1;
  }
  printf("%s loaded\n", lucid_model_id(video));
  lucid_model_destroy(video);
  return 0;
}
