#!/usr/bin/env bash
# Regenerates proto/gen/ from the .proto files with ts-proto. The generated files are committed,
# marked do-not-edit, and a test fails when they differ from what this script writes.
#
#   npm run proto:gen                 # rewrite proto/gen/
#   proto/generate.sh OUT_DIR         # write somewhere else (the staleness test does this)
#
# ONNX's schema is the onnx.proto that Debian ships in libonnx-dev (/usr/include/onnx/onnx.proto).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-proto/gen}"
onnx_include="${ONNX_PROTO_INCLUDE:-/usr/include}"
plugin="node_modules/.bin/protoc-gen-ts_proto"
# One place for the generator's options (STYLE.md: grpc-js + ts-proto).
opts="esModuleInterop=true,forceLong=number,useOptionals=messages,outputJsonMethods=false,env=node,importSuffix=.js,useExactTypes=false"

[ -f "$onnx_include/onnx/onnx.proto" ] || { echo "proto/generate.sh: $onnx_include/onnx/onnx.proto not found (apt-get install libonnx-dev)" >&2; exit 1; }
command -v protoc >/dev/null || { echo "proto/generate.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
mkdir -p "$out"
protoc --plugin="$plugin" --ts_proto_out="$out" --ts_proto_opt="$opts" -I "$onnx_include" onnx/onnx.proto
