// Preloaded (LD_PRELOAD) into bert-embed by cli_tests: makes the real
// OpenBLAS look as if it had fallen back to its Prescott kernels, as 0.3.21
// does on CPUs newer than itself, until the program has it choose its core
// again (gotoblas_dynamic_quit, then gotoblas_dynamic_init).
#include <dlfcn.h>

namespace {

bool chose_again = false;

template <typename Function>
Function* real(const char* name) {
  return reinterpret_cast<Function*>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

char* openblas_get_corename() {
  static char fallback[] = "Prescott";
  return chose_again ? real<char*()>("openblas_get_corename")() : fallback;
}

void gotoblas_dynamic_quit() {
  chose_again = true;
  real<void()>("gotoblas_dynamic_quit")();
}

}  // extern "C"
