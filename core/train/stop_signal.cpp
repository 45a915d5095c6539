#include "core/train/stop_signal.h"

#include <signal.h>

#include <atomic>

namespace kiln::train {

namespace {

volatile sig_atomic_t g_signal = 0;
struct sigaction g_old_int, g_old_term;
std::atomic<int> g_depth{0};

void on_signal(int sig) {
  // Only async-signal-safe work here: remember the signal; SA_RESETHAND has already restored
  // the default action for this one, and the other is reset too, so a second signal kills.
  g_signal = sig;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig == SIGINT ? SIGTERM : SIGINT, &dfl, nullptr);
}

}  // namespace

StopSignals::StopSignals() {
  if (g_depth++ > 0) return;  // nested scopes share the outer handlers
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

StopSignals::~StopSignals() {
  if (--g_depth > 0) return;
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int StopSignals::received() {
  return g_signal;
}

}  // namespace kiln::train
