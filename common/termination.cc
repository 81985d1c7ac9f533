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

void OnTerminationSignals(std::function<void(int signal_number)> on_signal,
                          std::function<void()> on_again) {
  std::thread([on_signal = std::move(on_signal), on_again = std::move(on_again)] {
    sigset_t set = TerminationSignals();
    int signal_number = 0;
    sigwait(&set, &signal_number);
    on_signal(signal_number);
    if (!on_again) return;  // later signals stay blocked: ignored
    sigwait(&set, &signal_number);
    on_again();
  }).detach();
}

void OnTerminationSignals(std::function<void()> on_signal, std::function<void()> on_again) {
  OnTerminationSignals([on_signal = std::move(on_signal)](int) { on_signal(); },
                       std::move(on_again));
}

void OnTerminationSignal(std::function<void(int signal_number)> on_signal) {
  OnTerminationSignals(std::move(on_signal), nullptr);
}

void OnTerminationSignal(std::function<void()> on_signal) {
  OnTerminationSignals(std::move(on_signal), nullptr);
}

}  // namespace anifarm
