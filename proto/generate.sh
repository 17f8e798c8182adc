#!/usr/bin/env bash
# Regenerates proto/gen/ from the .proto files with ts-proto. The generated files are committed,
# marked do-not-edit, and a test fails when they differ from what this script writes.
#
#   npm run proto:gen                 # rewrite proto/gen/
#   proto/generate.sh OUT_DIR         # write somewhere else (the staleness test does this)
#
# Two runs, because the two sources need different options:
#   - ONNX's schema, the onnx.proto that Debian ships in libonnx-dev (/usr/include/onnx/onnx.proto):
#     messages only.
#   - our wire contract, proto/cna/v1/*.proto (package cna.v1): messages plus grpc-js service
#     definitions and clients; google/protobuf/{empty,timestamp}.proto come with protoc and are
#     generated beside them (proto/gen/google/protobuf/).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-proto/gen}"
onnx_include="${ONNX_PROTO_INCLUDE:-/usr/include}"
plugin="node_modules/.bin/protoc-gen-ts_proto"

# The one place for the generator's options (docs/architecture.md convention 10).
# Shared: numbers for 64-bit ints (sizes, counts), optional message fields, no JSON methods,
# Buffer for bytes, `.js` import suffixes (resolved to the .ts files by NodeNext).
common_opts="esModuleInterop=true,forceLong=number,useOptionals=messages,outputJsonMethods=false,env=node,importSuffix=.js,useExactTypes=false"
onnx_opts="$common_opts"
# cna.v1: grpc-js services (SweepServiceService/SweepServiceClient, ...) and oneofs as tagged
# unions ({ $case: "header", header } | { $case: "data", data }), so the edge can switch on them.
cna_opts="$common_opts,outputServices=grpc-js,oneof=unions"

[ -f "$onnx_include/onnx/onnx.proto" ] || { echo "proto/generate.sh: $onnx_include/onnx/onnx.proto not found (apt-get install libonnx-dev)" >&2; exit 1; }
command -v protoc >/dev/null || { echo "proto/generate.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
mkdir -p "$out"
protoc --plugin="$plugin" --ts_proto_out="$out" --ts_proto_opt="$onnx_opts" -I "$onnx_include" onnx/onnx.proto
protoc --plugin="$plugin" --ts_proto_out="$out" --ts_proto_opt="$cna_opts" -I proto cna/v1/sweep.proto cna/v1/worker.proto
