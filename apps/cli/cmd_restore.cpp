// lucid restore / bench-restore: JPEG artifact removal (see restoration/).
#include "cli.h"

namespace lucid::cli {

int cmd_restore(int, char**) {
  throw CliError(kExitModel, "restore: JPEG restoration is not available in this build yet");
}
int cmd_bench_restore(int, char**) {
  throw CliError(kExitModel, "bench-restore: JPEG restoration is not available in this build yet");
}

}  // namespace lucid::cli
