// Test helper: runs the real binaries as child processes, with their output
// captured to files, and stops them with SIGTERM like an operator would.
#ifndef ANIFARM_TESTS_E2E_SUBPROCESS_H_
#define ANIFARM_TESTS_E2E_SUBPROCESS_H_

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace anifarm::testing {

class Subprocess {
 public:
  // Starts argv[0] with stdout/stderr redirected to `log_prefix`.out/.err.
  Subprocess(std::vector<std::string> argv, std::string log_prefix)
      : log_prefix_(std::move(log_prefix)) {
    pid_ = fork();
    if (pid_ == 0) {
      int out = open((log_prefix_ + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = open((log_prefix_ + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, STDOUT_FILENO);
      dup2(err, STDERR_FILENO);
      std::vector<char*> args;
      for (std::string& arg : argv) args.push_back(arg.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Subprocess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Waits up to `timeout` for the exit; returns the exit code, or -1 on
  // timeout, or 128+signal when killed by a signal.
  int Wait(std::chrono::seconds timeout = std::chrono::seconds(600)) {
    if (exited_) return code_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return code_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }
  bool Running() {
    int status = 0;
    if (exited_) return false;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }
  void Terminate() { kill(pid_, SIGTERM); }
  void Signal(int signal_number) { kill(pid_, signal_number); }

  std::string Stdout() const { return ReadAll(log_prefix_ + ".out"); }
  std::string Stderr() const { return ReadAll(log_prefix_ + ".err"); }

 private:
  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::string log_prefix_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
};

// A loopback TCP port that was free a moment ago.
inline int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace anifarm::testing

#endif  // ANIFARM_TESTS_E2E_SUBPROCESS_H_
