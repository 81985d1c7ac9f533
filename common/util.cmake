# Small helpers of common/ that are not media: flags, model catalog, signals,
# the gRPC channel factory, protobuf messages as JSON. (Media code is the anifarm_common library.)
add_library(anifarm_util STATIC
  ${CMAKE_SOURCE_DIR}/common/cli_args.cc
  ${CMAKE_SOURCE_DIR}/common/grpc_client.cc
  ${CMAKE_SOURCE_DIR}/common/logging.cc
  ${CMAKE_SOURCE_DIR}/common/model_catalog.cc
  ${CMAKE_SOURCE_DIR}/common/proto_json.cc
  ${CMAKE_SOURCE_DIR}/common/termination.cc)
target_include_directories(anifarm_util PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(anifarm_util PUBLIC
  gRPC::grpc++ CLI11::CLI11 spdlog::spdlog absl::status absl::statusor absl::strings Threads::Threads)

# Chunk payloads (decoding) and encoded segments (encoding on the node,
# joining at the coordinator): media + the wire types, shared by both.
add_library(anifarm_chunk STATIC
  ${CMAKE_SOURCE_DIR}/common/chunk_payload.cc
  ${CMAKE_SOURCE_DIR}/common/encoded_segment.cc)
target_link_libraries(anifarm_chunk PUBLIC anifarm_common anifarm_proto)
