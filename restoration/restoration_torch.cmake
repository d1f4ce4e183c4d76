# lucid_restoration: the JPEG restorer (CaVE + one-step diffusion U-Net from lucid::models) with
# tiled inference. LibTorch inside; its public header (jpeg_restorer.h) does not include it.
add_library(lucid_restoration
  src/jpeg_restorer.cpp)
add_library(lucid::restoration ALIAS lucid_restoration)
target_include_directories(lucid_restoration PUBLIC
  $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>)
target_link_libraries(lucid_restoration PUBLIC lucid::models lucid::jpeg)
lucid_torch_target(lucid_restoration)
