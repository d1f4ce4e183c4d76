# Finds LibTorch 2.x from a PyTorch wheel (it ships LibTorch's headers, libraries and CMake
# files). Looked for, in order:
#   1. Torch_DIR or CMAKE_PREFIX_PATH, if the caller set them;
#   2. the venv that install_deps.sh fills: LUCID_TORCH_VENV (cache or environment),
#      default /opt/lucid/torch-2.11;
#   3. whatever `python3 -c "import torch"` finds (the GPU machine's system PyTorch).
# Sets LUCID_TORCH_VERSION and LUCID_TORCH_CUDA (ON when the LibTorch build has CUDA).
set(_lucid_venv_default "/opt/lucid/torch-2.11")
if(DEFINED ENV{LUCID_TORCH_VENV})
  set(_lucid_venv_default "$ENV{LUCID_TORCH_VENV}")
endif()
set(LUCID_TORCH_VENV "${_lucid_venv_default}" CACHE PATH "venv holding the torch wheel")

if(NOT Torch_DIR)
  file(GLOB _lucid_torch_dirs
    "${LUCID_TORCH_VENV}/lib/python3*/site-packages/torch/share/cmake/Torch")
  if(_lucid_torch_dirs)
    list(GET _lucid_torch_dirs 0 _lucid_torch_dir)
    set(Torch_DIR "${_lucid_torch_dir}" CACHE PATH "LibTorch CMake files")
  else()
    find_program(_lucid_python NAMES python3)
    if(_lucid_python)
      execute_process(
        COMMAND "${_lucid_python}" -c "import torch, os; print(os.path.join(torch.utils.cmake_prefix_path, 'Torch'))"
        OUTPUT_VARIABLE _lucid_torch_dir OUTPUT_STRIP_TRAILING_WHITESPACE
        RESULT_VARIABLE _lucid_rc ERROR_QUIET)
      if(_lucid_rc EQUAL 0 AND EXISTS "${_lucid_torch_dir}/TorchConfig.cmake")
        set(Torch_DIR "${_lucid_torch_dir}" CACHE PATH "LibTorch CMake files")
      endif()
    endif()
  endif()
endif()

# The wheel's CMake files need the CUDA toolkit (nvcc) of a CUDA build: point them at it.
find_program(LUCID_NVCC nvcc HINTS "$ENV{CUDA_HOME}/bin" /usr/local/cuda/bin)
if(LUCID_NVCC)
  get_filename_component(_lucid_cuda_root "${LUCID_NVCC}" DIRECTORY)
  get_filename_component(_lucid_cuda_root "${_lucid_cuda_root}" DIRECTORY)
  if(NOT CUDA_TOOLKIT_ROOT_DIR)
    set(CUDA_TOOLKIT_ROOT_DIR "${_lucid_cuda_root}")
  endif()
  if(NOT CUDAToolkit_ROOT)
    set(CUDAToolkit_ROOT "${_lucid_cuda_root}")
  endif()
  if(NOT CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_COMPILER "${LUCID_NVCC}")
  endif()
endif()
# The wheel's TorchConfig looks Caffe2's CMake files and some libraries up with find_package
# and find_library, which search the system folders before the wheel's: a Debian libtorch
# (1.13) there would be linked instead. Name the wheel's files first (both keep a variable that
# is already set).
get_filename_component(_lucid_torch_lib "${Torch_DIR}/../../../lib" ABSOLUTE)
get_filename_component(_lucid_caffe2_dir "${Torch_DIR}/../Caffe2" ABSOLUTE)
set(Caffe2_DIR "${_lucid_caffe2_dir}" CACHE PATH "Caffe2 CMake files of the torch wheel" FORCE)
foreach(_lucid_pair IN ITEMS TORCH_LIBRARY:torch c10_LIBRARY:c10 C10_CUDA_LIBRARY:c10_cuda
                             CAFFE2_NVRTC_LIBRARY:caffe2_nvrtc)
  string(REPLACE ":" ";" _lucid_pair "${_lucid_pair}")
  list(GET _lucid_pair 0 _lucid_var)
  list(GET _lucid_pair 1 _lucid_name)
  if(EXISTS "${_lucid_torch_lib}/lib${_lucid_name}.so")
    set(${_lucid_var} "${_lucid_torch_lib}/lib${_lucid_name}.so" CACHE FILEPATH "" FORCE)
  endif()
endforeach()
find_package(Torch 2.0 REQUIRED)
foreach(_lucid_lib IN ITEMS TORCH_LIBRARY c10_LIBRARY C10_CUDA_LIBRARY)
  if(${_lucid_lib} AND NOT "${${_lucid_lib}}" MATCHES "^${TORCH_INSTALL_PREFIX}")
    message(FATAL_ERROR "${_lucid_lib} is ${${_lucid_lib}}, outside ${TORCH_INSTALL_PREFIX}: "
                        "another LibTorch is in the way (delete the build folder's CMakeCache.txt)")
  endif()
endforeach()
if(NOT Torch_VERSION VERSION_GREATER_EQUAL 2.0)
  message(FATAL_ERROR "Lucid needs LibTorch 2.x (found ${Torch_VERSION} in ${Torch_DIR}); run install_deps.sh")
endif()
set(LUCID_TORCH_VERSION "${Torch_VERSION}")
# Lucid links LibTorch's CPU part only (libtorch_cpu, libc10: target lucid_torch_cpu). The CUDA
# part (libtorch_cuda and the CUDA libraries it needs) costs every process about 0.3 s and
# 350 MB at start on this machine (measured: an empty program linked to both), so it is loaded
# by lucid::models::cuda_device_count() / resolve_device() only when a CUDA device is asked for.
# LUCID_TORCH_LIBRARIES (the CPU part) is what Lucid's targets link; TORCH_LIBRARIES (all of
# LibTorch) is for code that calls CUDA functions directly (the gpu tests).
add_library(lucid_torch_cpu INTERFACE)
target_include_directories(lucid_torch_cpu SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_compile_options(lucid_torch_cpu INTERFACE ${TORCH_CXX_FLAGS})
target_link_libraries(lucid_torch_cpu INTERFACE
  "${TORCH_INSTALL_PREFIX}/lib/libtorch_cpu.so" "${TORCH_INSTALL_PREFIX}/lib/libc10.so")
set(LUCID_TORCH_LIBRARIES lucid_torch_cpu)
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(LUCID_TORCH_CUDA ON)
else()
  set(LUCID_TORCH_CUDA OFF)
endif()
message(STATUS "Lucid: LibTorch ${Torch_VERSION} from ${Torch_DIR} (CUDA: ${LUCID_TORCH_CUDA})")

# The OpenMP runtime LibTorch was built with (the wheel bundles its own libgomp.so.1): the codec
# calls omp_set_num_threads on it. Linking the system libgomp too would load two runtimes.
find_library(LUCID_OPENMP_LIBRARIES NAMES libgomp.so.1 gomp
  PATHS "${TORCH_INSTALL_PREFIX}/lib" NO_DEFAULT_PATH)
if(NOT LUCID_OPENMP_LIBRARIES)
  find_package(OpenMP REQUIRED COMPONENTS CXX)
  set(LUCID_OPENMP_LIBRARIES ${OpenMP_CXX_LIBRARIES})
endif()
