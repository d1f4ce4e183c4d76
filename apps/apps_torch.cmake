# lucid-train: trains and exports the networks. With LUCID_TRAIN_ONLY (the GPU trainer, see
# apps/train/gpu_train.sh) it needs LibTorch alone: no image or JPEG library, data from raw
# packs (apps/train/pack.h, data_scripts/expand_pack.py), and nothing else is built here.
add_executable(lucid-train
  train/lucid_train.cpp
  train/train_common.cpp
  train/train_codec.cpp
  train/train_restore.cpp
  train/train_video.cpp
  train/checkpoint.cpp
  train/pack.cpp)
lucid_torch_target(lucid-train)
if(LUCID_TRAIN_ONLY)
  target_link_libraries(lucid-train PRIVATE lucid::models lucid::entropy lucid::video_net lucid::flags
                        nlohmann_json::nlohmann_json)
  target_compile_definitions(lucid-train PRIVATE LUCID_TRAIN_ONLY)
  return()
endif()
# Photos are decoded by lucid::media, the CLI's reader, so training sees the pixels inference sees.
target_link_libraries(lucid-train PRIVATE lucid::models lucid::entropy lucid::media lucid::video_net
                      lucid::flags nlohmann_json::nlohmann_json)

# The CLI writes its JSON (--json, bench and bench-restore files) with nlohmann-json (apps/).
add_executable(lucid
  cli/main.cpp
  cli/cmd_codec.cpp
  cli/cmd_bench.cpp
  cli/cmd_restore.cpp
  cli/rd.cpp
  cli/baselines.cpp
  cli/subprocess.cpp)
target_link_libraries(lucid PRIVATE lucid::capi lucid::appsupport lucid::media lucid::flags
                      nlohmann_json::nlohmann_json)
if(LUCID_INSTALL)
  set_target_properties(lucid PROPERTIES INSTALL_RPATH "${TORCH_INSTALL_PREFIX}/lib")
  install(TARGETS lucid RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
