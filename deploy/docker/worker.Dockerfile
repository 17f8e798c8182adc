# syntax=docker/dockerfile:1
#
# The worker image, for NVIDIA GPUs: CUDA 12 + cuDNN 9 runtime (what onnxruntime-node's CUDA
# execution provider links against), Node 20, and the CUDA provider installed at build time.
# Build from the repository root:
#
#   docker build -f deploy/docker/worker.Dockerfile -t REGISTRY/cna-sweep/worker-cuda:TAG .
#
# The image also runs on CPU-only nodes (`--provider cpu`, the default), so the dev overlay can
# use it too; it is just larger than it needs to be there.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

FROM ${NODE_IMAGE} AS node

FROM node AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# ONNXRUNTIME_NODE_INSTALL overrides .npmrc's onnxruntime-node-install=skip: onnxruntime-node's
# install script downloads the CUDA 12 provider libraries now, so a worker never fetches anything
# at run time. The check after it fails the build, not the first shard, if they did not arrive.
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

FROM ${CUDA_IMAGE}
# Node 20 from the official image: its binary needs only glibc ≥ 2.28 and libstdc++ (Ubuntu 22.04
# has both; npm is not needed at run time).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
# HOME=/tmp: tsx's compile cache and CUDA's kernel cache land on the /tmp emptyDir.
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# The sources, exactly what the repository's .dockerignore lets through (an allowlist: package
# files, the TypeScript folders the `cna` entry point imports, proto/ with the .proto files that
# server reflection loads at run time, schemas/, and the bundled zoo under models/).
COPY . .
RUN node --version
USER 10001:10001
EXPOSE 7071 9465
ENTRYPOINT ["node", "cli/cna.js"]
CMD ["worker", "--help"]
