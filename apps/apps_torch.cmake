# lucid-train: trains and exports the networks. With LUCID_TRAIN_ONLY (the GPU trainer, see
# apps/train/gpu_train.sh) it needs LibTorch alone: no image or JPEG library, data from raw
# packs (apps/train/pack.h, data_scripts/expand_pack.py), and nothing else is built here.
add_executable(lucid-train
  train/lucid_train.cpp
  train/train_common.cpp
  train/train_codec.cpp
  train/train_restore.cpp
  train/checkpoint.cpp
  train/pack.cpp)
lucid_torch_target(lucid-train)
if(LUCID_TRAIN_ONLY)
  target_link_libraries(lucid-train PRIVATE lucid::models lucid::entropy)
  target_compile_definitions(lucid-train PRIVATE LUCID_TRAIN_ONLY)
  return()
endif()
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
target_link_libraries(lucid-train PRIVATE lucid::models lucid::entropy lucid::jpeg ${OpenCV_LIBS})

add_executable(lucid
  cli/main.cpp
  cli/cmd_codec.cpp
  cli/cmd_bench.cpp
  cli/cmd_restore.cpp
  cli/rd.cpp
  cli/baselines.cpp
  cli/subprocess.cpp)
target_link_libraries(lucid PRIVATE lucid::codec lucid::appsupport lucid::jpeg)
