find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
add_executable(lucid-train
  train/lucid_train.cpp
  train/train_common.cpp
  train/train_codec.cpp
  train/train_restore.cpp)
target_link_libraries(lucid-train PRIVATE lucid::models lucid::entropy lucid::jpeg ${OpenCV_LIBS})
lucid_torch_target(lucid-train)

add_executable(lucid
  cli/main.cpp
  cli/cmd_codec.cpp
  cli/cmd_bench.cpp
  cli/cmd_restore.cpp
  cli/rd.cpp)
target_link_libraries(lucid PRIVATE lucid::codec lucid::appsupport lucid::jpeg)
