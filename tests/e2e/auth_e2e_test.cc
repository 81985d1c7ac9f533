// Access control on real processes: a coordinator with TLS, a token file and
// a client CA; nodes that authenticate by certificate (mutual TLS) or by
// enrollment token; users with viewer, submitter and admin tokens. Every
// refusal is checked for its status (the CLI's exit code, the RPC's code,
// the dashboard's HTTP status) and for changing nothing.
//
// Certificates are made by tests/e2e/make_test_pki.sh with the openssl
// command (a test dependency, not the product's).
#include <grpcpp/generic/generic_stub.h>
#include <httplib.h>  // Debian's is built with OpenSSL (HTTPS)

#include <future>

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "common/grpc_client.h"
#include "common/media/test_clip.h"
#include "protos/anifarm.grpc.pb.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/subprocess.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;
using testing::FreeLoopbackPort;
using testing::Subprocess;

const std::string kBin = ANIFARM_BIN_DIR;
const std::string kModels = ANIFARM_TEST_MODEL_DIR;
const std::string kPkiScript = ANIFARM_TEST_PKI_SCRIPT;

// Random-looking tokens of the test's users (the file stores two of them as
// sha256: digests, as an operator would).
constexpr char kAliceAdmin[] = "alice-admin-7f3a9c2e41d8b605";
constexpr char kBobSubmitter[] = "bob-submitter-5d1e8a7c3f2b9046";
constexpr char kCarolSubmitter[] = "carol-submitter-0b6d4e2a8c1f7935";
constexpr char kWallViewer[] = "wall-viewer-93c7e1f5a2d80b46";
constexpr char kDaveExpired[] = "dave-expired-4a8e2c6f1d3b7059";
constexpr char kNodeEnrollment[] = "gpu-02-enroll-6e2b9d4f8a1c3570";

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("auth");
    ASSERT_EQ(std::system(("sh " + kPkiScript + " " + Pki("")).c_str()), 0)
        << "making the test certificates failed (is openssl installed?)";
    address_ = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    http_port_ = FreeLoopbackPort();
    std::ofstream tokens(dir_ / "tokens");
    tokens << "# role name token [expires]\n"
           << "admin alice " << Digest(kAliceAdmin) << "\n"
           << "submitter bob " << kBobSubmitter << "\n"
           << "submitter carol " << Digest(kCarolSubmitter) << "   # a second user\n"
           << "viewer wall " << kWallViewer << "\n"
           << "submitter dave " << kDaveExpired << " 2020-01-01T00:00:00Z\n"
           << "node gpu-02 " << kNodeEnrollment << "\n";
    tokens.close();
    for (const char* token : {kAliceAdmin, kBobSubmitter, kCarolSubmitter, kWallViewer,
                              kDaveExpired, kNodeEnrollment}) {
      std::ofstream(TokenFile(token)) << token << "\n";
    }
    std::ofstream(TokenFile("not-a-known-token-at-all")) << "not-a-known-token-at-all\n";
    // No config file or token from the environment of whoever runs the tests.
    setenv("ANIFARM_CONFIG", (dir_ / "no-config.toml").c_str(), 1);
    unsetenv("ANIFARM_TOKEN");
    unsetenv("ANIFARM_TLS_CA");
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  std::string Pki(const std::string& name) const { return (dir_ / "pki" / name).string(); }
  std::string Log(const std::string& name) const { return (dir_ / name).string(); }
  std::string TokenFile(const std::string& token) const {
    return (dir_ / ("token-" + token.substr(0, 8))).string();
  }
  static std::string Digest(const std::string& token) {
    return "sha256:" + Sha256Of(token);
  }
  static std::string Sha256Of(const std::string& text);

  std::unique_ptr<Subprocess> StartCoordinator() {
    return std::make_unique<Subprocess>(
        std::vector<std::string>{kBin + "/anifarm-coordinator", "--listen", address_,
                                 "--state-dir", (dir_ / "state").string(), "--models-dir",
                                 kModels, "--chunk-frames", "6", "--http",
                                 "127.0.0.1:" + std::to_string(http_port_), "--tls-cert",
                                 Pki("server.pem"), "--tls-key", Pki("server.key"),
                                 "--tls-client-ca", Pki("ca.pem"), "--tokens",
                                 (dir_ / "tokens").string()},
        Log("coordinator"));
  }
  std::unique_ptr<Subprocess> StartNode(const std::string& name,
                                        std::vector<std::string> credentials) {
    std::vector<std::string> argv = {kBin + "/anifarm-node", "--coordinator", address_,
                                     "--cache-dir", (dir_ / ("cache-" + name)).string(),
                                     "--device", "cpu", "--tls-ca", Pki("ca.pem")};
    argv.insert(argv.end(), credentials.begin(), credentials.end());
    return std::make_unique<Subprocess>(argv, Log(name));
  }
  // `anifarm ARGS...` against the coordinator, over TLS, as `token`'s user
  // (none when empty).
  testing::CommandResult Cli(std::vector<std::string> args, const std::string& token,
                bool tls = true) {
    std::vector<std::string> argv = {kBin + "/anifarm"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--coordinator", address_});
    if (tls) argv.insert(argv.end(), {"--tls-ca", Pki("ca.pem")});
    if (!token.empty()) argv.insert(argv.end(), {"--token-file", TokenFile(token)});
    return testing::RunToEnd(argv, Log("cli-" + std::to_string(++cli_runs_)));
  }
  std::unique_ptr<v1::Coordinator::Stub> Stub(const ChannelSecurity& security) {
    auto channel = MakeCoordinatorChannel(address_, security);
    EXPECT_TRUE(channel.ok()) << channel.status();
    return v1::Coordinator::NewStub(*channel);
  }
  ChannelSecurity As(const std::string& token) {
    ChannelSecurity security;
    security.tls_ca_file = Pki("ca.pem");
    security.token = token;
    return security;
  }
  ChannelSecurity AsCertificate(const std::string& name) {
    ChannelSecurity security;
    security.tls_ca_file = Pki("ca.pem");
    security.tls_cert_file = Pki(name + ".pem");
    security.tls_key_file = Pki(name + ".key");
    return security;
  }
  std::vector<v1::JobStatus> JobsSeenBy(const std::string& token) {
    grpc::ClientContext context;
    v1::ListJobsResponse response;
    grpc::Status status = Stub(As(token))->ListJobs(&context, {}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.jobs().begin(), response.jobs().end()};
  }
  std::vector<v1::NodeInfo> Nodes() {
    grpc::ClientContext context;
    v1::ListNodesResponse response;
    EXPECT_TRUE(Stub(As(kAliceAdmin))->ListNodes(&context, {}, &response).ok());
    return {response.nodes().begin(), response.nodes().end()};
  }
  std::string MakeClip() {
    TestClipSpec spec;
    spec.width = 64;
    spec.height = 48;
    spec.gop = 6;
    spec.content = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5};
    const std::string path = (dir_ / "clip.mp4").string();
    EXPECT_TRUE(WriteTestClip(path, spec).ok());
    return path;
  }
  std::unique_ptr<httplib::SSLClient> Dashboard() {
    auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", http_port_);
    client->set_ca_cert_path(Pki("ca.pem").c_str());
    client->enable_server_certificate_verification(true);
    return client;
  }

  fs::path dir_;
  std::string address_;
  int http_port_ = 0;
  int cli_runs_ = 0;
};

std::string AuthTest::Sha256Of(const std::string& text) {
  // The coordinator's own hashing would make this test agree with itself;
  // openssl computes the digest independently.
  const fs::path in = fs::temp_directory_path() / ("anifarm-digest-" + std::to_string(getpid()));
  std::ofstream(in) << text;
  const std::string command = "openssl dgst -sha256 -r " + in.string();
  std::string out;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[256];
    while (fgets(buffer, sizeof(buffer), pipe)) out += buffer;
    pclose(pipe);
  }
  fs::remove(in);
  return out.substr(0, 64);
}

TEST_F(AuthTest, TlsTokensAndNodeCertificatesRunOwnedJobs) {
  const std::string clip = MakeClip();
  auto coordinator = StartCoordinator();
  // One node by mutual TLS (its certificate's CN is its name), one by
  // enrollment token.
  auto by_certificate = StartNode("node-cert", {"--tls-cert", Pki("gpu-01.pem"), "--tls-key",
                                                Pki("gpu-01.key")});
  auto by_token = StartNode("node-token", {"--token-file", TokenFile(kNodeEnrollment)});

  const std::string output = (dir_ / "out.mp4").string();
  testing::CommandResult submit = Cli({"submit", clip, "-o", output, "--wait"}, kBobSubmitter);
  ASSERT_EQ(submit.code, 0) << submit.err << "\ncoordinator:\n" << coordinator->Stderr();
  const std::string job_id = submit.out.substr(0, submit.out.find('\n'));
  EXPECT_TRUE(fs::exists(output));

  std::set<std::string> principals;
  for (const v1::NodeInfo& node : Nodes()) principals.insert(node.principal());
  EXPECT_EQ(principals, (std::set<std::string>{"gpu-01", "gpu-02"}));

  // Who sees what: bob his job, carol nothing, the viewer and the admin all.
  ASSERT_EQ(JobsSeenBy(kBobSubmitter).size(), 1u);
  EXPECT_EQ(JobsSeenBy(kBobSubmitter)[0].owner(), "bob");
  EXPECT_EQ(JobsSeenBy(kBobSubmitter)[0].state(), v1::JOB_DONE);
  EXPECT_TRUE(JobsSeenBy(kCarolSubmitter).empty());
  EXPECT_EQ(JobsSeenBy(kWallViewer).size(), 1u);
  EXPECT_EQ(JobsSeenBy(kAliceAdmin).size(), 1u);

  // Refusals through the CLI: exit 6, one line naming the reason.
  testing::CommandResult missing = Cli({"jobs"}, "");
  EXPECT_EQ(missing.code, 6) << missing.err;
  EXPECT_NE(missing.err.find("no credentials"), std::string::npos) << missing.err;
  testing::CommandResult wrong = Cli({"jobs"}, "not-a-known-token-at-all");
  EXPECT_EQ(wrong.code, 6) << wrong.err;
  EXPECT_NE(wrong.err.find("unknown token"), std::string::npos) << wrong.err;
  testing::CommandResult expired = Cli({"jobs"}, kDaveExpired);
  EXPECT_EQ(expired.code, 6) << expired.err;
  EXPECT_NE(expired.err.find("expired"), std::string::npos) << expired.err;
  testing::CommandResult viewer_submit = Cli({"submit", clip, "-o", (dir_ / "v.mp4").string()}, kWallViewer);
  EXPECT_EQ(viewer_submit.code, 6) << viewer_submit.err;
  testing::CommandResult expired_submit = Cli({"submit", clip, "-o", (dir_ / "d.mp4").string()}, kDaveExpired);
  EXPECT_EQ(expired_submit.code, 6) << expired_submit.err;
  testing::CommandResult other_status = Cli({"status", job_id}, kCarolSubmitter);
  EXPECT_EQ(other_status.code, 6) << other_status.err;
  EXPECT_NE(other_status.err.find("belongs to another user"), std::string::npos);
  testing::CommandResult other_retry = Cli({"retry", job_id}, kCarolSubmitter);
  EXPECT_EQ(other_retry.code, 6) << other_retry.err;
  testing::CommandResult viewer_cancel = Cli({"cancel", job_id}, kWallViewer);
  EXPECT_EQ(viewer_cancel.code, 6) << viewer_cancel.err;
  // Plaintext to a TLS coordinator does not get through at all.
  testing::CommandResult plaintext = Cli({"jobs"}, kAliceAdmin, /*tls=*/false);
  EXPECT_EQ(plaintext.code, 5) << plaintext.err;
  // Nothing changed: still one job, done, bob's, and its output intact.
  ASSERT_EQ(JobsSeenBy(kAliceAdmin).size(), 1u);
  EXPECT_EQ(JobsSeenBy(kAliceAdmin)[0].state(), v1::JOB_DONE);
  EXPECT_EQ(JobsSeenBy(kAliceAdmin)[0].job_id(), job_id);
  EXPECT_TRUE(fs::exists(output));
  // The owner and the admin may act on it.
  testing::CommandResult own = Cli({"status", job_id, "--json"}, kBobSubmitter);
  EXPECT_EQ(own.code, 0) << own.err;
  EXPECT_NE(own.out.find("\"owner\":\"bob\""), std::string::npos) << own.out;

  // The dashboard (HTTPS with the same certificate) takes the same tokens.
  std::unique_ptr<httplib::SSLClient> client = Dashboard();
  httplib::SSLClient& web = *client;
  auto anonymous = web.Get("/api/jobs");
  ASSERT_TRUE(anonymous) << "dashboard unreachable: " << httplib::to_string(anonymous.error());
  EXPECT_EQ(anonymous->status, 401);
  auto page = web.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);  // the page itself asks for a token
  auto metrics = web.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 401);
  const httplib::Headers viewer = {{"Authorization", std::string("Bearer ") + kWallViewer}};
  const httplib::Headers carol = {{"Authorization", std::string("Bearer ") + kCarolSubmitter}};
  const httplib::Headers bob = {{"Authorization", std::string("Bearer ") + kBobSubmitter}};
  auto listed = web.Get("/api/jobs", viewer);
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->status, 200);
  EXPECT_NE(listed->body.find(job_id), std::string::npos);
  auto viewer_metrics = web.Get("/metrics", viewer);
  ASSERT_TRUE(viewer_metrics);
  EXPECT_EQ(viewer_metrics->status, 200);
  auto viewer_retry = web.Post("/api/jobs/" + job_id + "/retry", viewer, "", "text/plain");
  ASSERT_TRUE(viewer_retry);
  EXPECT_EQ(viewer_retry->status, 403);
  auto carol_chunks = web.Get("/api/jobs/" + job_id + "/chunks", carol);
  ASSERT_TRUE(carol_chunks);
  EXPECT_EQ(carol_chunks->status, 403);
  auto bob_chunks = web.Get("/api/jobs/" + job_id + "/chunks", bob);
  ASSERT_TRUE(bob_chunks);
  EXPECT_EQ(bob_chunks->status, 200);
  EXPECT_EQ(JobsSeenBy(kAliceAdmin)[0].state(), v1::JOB_DONE);

  by_certificate->Terminate();
  by_token->Terminate();
  coordinator->Terminate();
  EXPECT_EQ(coordinator->Wait(std::chrono::seconds(30)), 0);
}

TEST_F(AuthTest, NodesAreRefusedWithBadCredentialsAndOnOtherNodesLeases) {
  auto coordinator = StartCoordinator();
  // Wrong CA, expired certificate: the TLS handshake fails, so they never
  // register. No credentials at all, or a user's token: refused, exit 6.
  auto rogue = StartNode("node-rogue", {"--tls-cert", Pki("rogue.pem"), "--tls-key",
                                        Pki("rogue.key")});
  auto expired = StartNode("node-expired", {"--tls-cert", Pki("expired.pem"), "--tls-key",
                                            Pki("expired.key")});
  auto anonymous = StartNode("node-anonymous", {});
  auto user = StartNode("node-user", {"--token-file", TokenFile(kBobSubmitter)});
  EXPECT_EQ(anonymous->Wait(std::chrono::seconds(60)), 6) << anonymous->Stderr();
  EXPECT_NE(anonymous->Stderr().find("no credentials"), std::string::npos) << anonymous->Stderr();
  EXPECT_EQ(user->Wait(std::chrono::seconds(60)), 6) << user->Stderr();
  EXPECT_NE(user->Stderr().find("is not a node"), std::string::npos) << user->Stderr();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_TRUE(rogue->Running());
  EXPECT_TRUE(expired->Running());
  EXPECT_TRUE(Nodes().empty()) << "a refused node registered";

  // Two honest nodes register; one then tries to act with the other's id.
  auto as_gpu01 = Stub(AsCertificate("gpu-01"));
  auto as_gpu02 = Stub(As(kNodeEnrollment));
  v1::RegisterNodeRequest hello;
  hello.set_hostname("test");
  hello.set_device("cpu");
  v1::RegisterNodeResponse gpu01, gpu02;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(as_gpu01->RegisterNode(&context, hello, &gpu01).ok());
  }
  {
    grpc::ClientContext context;
    ASSERT_TRUE(as_gpu02->RegisterNode(&context, hello, &gpu02).ok());
  }
  {
    grpc::ClientContext context;
    v1::HeartbeatRequest beat;
    beat.set_node_id(gpu02.node_id());
    v1::HeartbeatResponse response;
    EXPECT_EQ(as_gpu01->Heartbeat(&context, beat, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext context;
    v1::LeaseChunkRequest lease;
    lease.set_node_id(gpu01.node_id());
    v1::LeaseChunkResponse response;
    EXPECT_EQ(as_gpu02->LeaseChunk(&context, lease, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext context;
    v1::CompleteChunkRequest complete;
    complete.set_node_id(gpu01.node_id());
    v1::CompleteChunkResponse response;
    EXPECT_EQ(as_gpu02->CompleteChunk(&context, complete, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    // A user (even the admin) is not a node.
    grpc::ClientContext context;
    v1::LeaseChunkRequest lease;
    lease.set_node_id(gpu01.node_id());
    v1::LeaseChunkResponse response;
    EXPECT_EQ(Stub(As(kAliceAdmin))->LeaseChunk(&context, lease, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    // And a node is not a user.
    grpc::ClientContext context;
    v1::ListJobsResponse response;
    EXPECT_EQ(as_gpu01->ListJobs(&context, {}, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext context;
    v1::LeaseChunkRequest lease;
    lease.set_node_id(gpu01.node_id());
    v1::LeaseChunkResponse response;
    EXPECT_TRUE(as_gpu01->LeaseChunk(&context, lease, &response).ok());  // its own: fine
  }
  EXPECT_EQ(Nodes().size(), 2u);
  rogue->Terminate();
  expired->Terminate();
  coordinator->Terminate();
  EXPECT_EQ(coordinator->Wait(std::chrono::seconds(30)), 0);
}

TEST_F(AuthTest, PlaintextOffLoopbackNeedsInsecure) {
  const std::string port = std::to_string(FreeLoopbackPort());
  std::vector<std::string> argv = {kBin + "/anifarm-coordinator", "--listen", "0.0.0.0:" + port,
                                   "--state-dir", (dir_ / "state").string(), "--models-dir",
                                   kModels};
  Subprocess refused(argv, Log("refused"));
  EXPECT_EQ(refused.Wait(std::chrono::seconds(30)), 2);
  EXPECT_NE(refused.Stderr().find("--insecure"), std::string::npos) << refused.Stderr();
  EXPECT_FALSE(fs::exists(dir_ / "state" / "anifarm.db")) << "refused, yet it started";

  argv.push_back("--insecure");
  Subprocess allowed(argv, Log("allowed"));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_TRUE(allowed.Running()) << allowed.Stderr();
  EXPECT_NE(allowed.Stderr().find(" warning anifarm-coordinator: --listen 0.0.0.0:"),
            std::string::npos)
      << allowed.Stderr();
  allowed.Terminate();
  EXPECT_EQ(allowed.Wait(std::chrono::seconds(30)), 0);
}

// Calls grpc.health.v1.Health/Check in plaintext; returns the serving
// status (1 = SERVING), or -1 with the call's error code in `code`.
int HealthCheck(const std::string& address, grpc::StatusCode* code) {
  grpc::GenericStub stub(MakeCoordinatorChannel(address));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::ByteBuffer request, response;  // an empty HealthCheckRequest: the server as a whole
  grpc::Slice empty("", 0);
  request = grpc::ByteBuffer(&empty, 1);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", {}, &request, &response,
                 [&done](grpc::Status status) { done.set_value(status); });
  grpc::Status status = done.get_future().get();
  *code = status.error_code();
  if (!status.ok()) return -1;
  std::vector<grpc::Slice> slices;
  (void)response.Dump(&slices);
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  // HealthCheckResponse { ServingStatus status = 1; }: tag 0x08, varint.
  return bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : 0;
}

TEST_F(AuthTest, HealthPortServesOnlyHealthInPlaintext) {
  const std::string health = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
  Subprocess coordinator(
      {kBin + "/anifarm-coordinator", "--listen", address_, "--state-dir",
       (dir_ / "state").string(), "--models-dir", kModels, "--tls-cert", Pki("server.pem"),
       "--tls-key", Pki("server.key"), "--tokens", (dir_ / "tokens").string(), "--health",
       health},
      Log("coordinator"));
  grpc::StatusCode code = grpc::StatusCode::OK;
  int serving = -1;
  for (int attempt = 0; attempt < 50 && serving != 1; ++attempt) {
    serving = HealthCheck(health, &code);
    if (serving != 1) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(serving, 1) << "code " << code << "\n" << coordinator.Stderr();
  // The farm's API is not on the health port.
  grpc::ClientContext context;
  v1::ListJobsResponse response;
  auto plaintext = v1::Coordinator::NewStub(MakeCoordinatorChannel(health));
  EXPECT_EQ(plaintext->ListJobs(&context, {}, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  coordinator.Terminate();
  EXPECT_EQ(coordinator.Wait(std::chrono::seconds(30)), 0);
}

}  // namespace
}  // namespace anifarm
