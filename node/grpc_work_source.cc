#include "node/grpc_work_source.h"

#include <chrono>

#include "common/grpc_client.h"

namespace anifarm {
namespace {

// Results can be hundreds of MB of PNG; give uploads time on slow links.
constexpr std::chrono::seconds kShortCall(30);
constexpr std::chrono::seconds kLongCall(600);

void SetDeadline(grpc::ClientContext* context, std::chrono::seconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

template <typename Response, typename Call>
absl::StatusOr<Response> Invoke(const std::string& address, std::chrono::seconds timeout,
                                Call call) {
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  Response response;
  absl::Status status = FromGrpcStatus(call(&context, &response), address);
  if (!status.ok()) return status;
  return response;
}

}  // namespace

GrpcWorkSource::GrpcWorkSource(const std::string& address,
                               std::shared_ptr<grpc::Channel> channel)
    : address_(address), stub_(v1::Coordinator::NewStub(std::move(channel))) {}

absl::StatusOr<v1::RegisterNodeResponse> GrpcWorkSource::RegisterNode(
    const v1::RegisterNodeRequest& request) {
  return Invoke<v1::RegisterNodeResponse>(address_, kShortCall, [&](auto* ctx, auto* response) {
    return stub_->RegisterNode(ctx, request, response);
  });
}

absl::StatusOr<v1::LeaseChunkResponse> GrpcWorkSource::LeaseChunk(
    const v1::LeaseChunkRequest& request) {
  return Invoke<v1::LeaseChunkResponse>(address_, kLongCall, [&](auto* ctx, auto* response) {
    return stub_->LeaseChunk(ctx, request, response);
  });
}

absl::Status GrpcWorkSource::CompleteChunk(const v1::CompleteChunkRequest& request) {
  return Invoke<v1::CompleteChunkResponse>(address_, kLongCall, [&](auto* ctx, auto* response) {
           return stub_->CompleteChunk(ctx, request, response);
         }).status();
}

absl::Status GrpcWorkSource::FailChunk(const v1::FailChunkRequest& request) {
  return Invoke<v1::FailChunkResponse>(address_, kShortCall, [&](auto* ctx, auto* response) {
           return stub_->FailChunk(ctx, request, response);
         }).status();
}

absl::StatusOr<v1::HeartbeatResponse> GrpcWorkSource::Heartbeat(
    const v1::HeartbeatRequest& request) {
  return Invoke<v1::HeartbeatResponse>(address_, kShortCall, [&](auto* ctx, auto* response) {
    return stub_->Heartbeat(ctx, request, response);
  });
}

absl::StatusOr<v1::FetchModelResponse> GrpcWorkSource::FetchModel(
    const v1::FetchModelRequest& request) {
  return Invoke<v1::FetchModelResponse>(address_, kLongCall, [&](auto* ctx, auto* response) {
    return stub_->FetchModel(ctx, request, response);
  });
}

absl::StatusOr<v1::FetchFramesResponse> GrpcWorkSource::FetchFrames(
    const v1::FetchFramesRequest& request) {
  return Invoke<v1::FetchFramesResponse>(address_, kLongCall, [&](auto* ctx, auto* response) {
    return stub_->FetchFrames(ctx, request, response);
  });
}

}  // namespace anifarm
