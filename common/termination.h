// Clean shutdown on SIGTERM/SIGINT for the long-running binaries: the
// signals are blocked in every thread and one watcher thread receives them
// with sigwait, so shutdown code runs as ordinary code, not in a handler.
#ifndef ANIFARM_COMMON_TERMINATION_H_
#define ANIFARM_COMMON_TERMINATION_H_

#include <functional>
#include <thread>

namespace anifarm {

// Call first in main(), before any thread starts (threads inherit the mask).
void BlockTerminationSignals();

// Starts the watcher: `on_signal` runs once, on the watcher thread, when
// SIGTERM or SIGINT arrives, with that signal's number (the CLI exits
// 128 + it, as shells report a killed command). Detached; lives as long as
// the process. Start one watcher per process: two would race for a signal.
void OnTerminationSignal(std::function<void(int signal_number)> on_signal);
// The same, for callers that do not care which signal it was.
void OnTerminationSignal(std::function<void()> on_signal);

// The same, and `on_again` runs when a second signal comes after it, e.g. a
// second Ctrl-C while the first one's clean stop is still under way (an
// impatient user means "now"). `on_signal` must return promptly: the second
// signal is only received once it has.
void OnTerminationSignals(std::function<void(int signal_number)> on_signal,
                          std::function<void()> on_again);
void OnTerminationSignals(std::function<void()> on_signal, std::function<void()> on_again);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_TERMINATION_H_
