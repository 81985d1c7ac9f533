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

void OnTerminationSignal(std::function<void(int signal_number)> on_signal) {
  std::thread([on_signal = std::move(on_signal)] {
    sigset_t set = TerminationSignals();
    int signal_number = 0;
    sigwait(&set, &signal_number);
    on_signal(signal_number);
  }).detach();
}

void OnTerminationSignal(std::function<void()> on_signal) {
  OnTerminationSignal([on_signal = std::move(on_signal)](int) { on_signal(); });
}

}  // namespace anifarm
