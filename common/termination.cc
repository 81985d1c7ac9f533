#include "common/termination.h"

#include <csignal>

namespace anifarm {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void OnTerminationSignal(std::function<void()> on_signal) {
  std::thread([on_signal = std::move(on_signal)] {
    sigset_t set = TerminationSignals();
    int signal_number = 0;
    sigwait(&set, &signal_number);
    on_signal();
  }).detach();
}

}  // namespace anifarm
