# syntax=docker/dockerfile:1
#
# The coordinator image. Build from the repository root (the .dockerignore there keeps the
# context to what the image needs):
#
#   docker build -f deploy/docker/coordinator.Dockerfile -t REGISTRY/cna-sweep/coordinator:TAG .
#
# There is no compile step: tsx (a runtime dependency) compiles the TypeScript sources on import,
# as it does in a checkout, caching under /tmp (an emptyDir in Kubernetes, so the root filesystem
# can stay read-only). The same `cna` entry point runs every command; the manifests pass
# `coordinator --data ... --nats ...`. It carries the whole CLI and the bundled zoo, so it also
# runs CPU workers (`worker ... --provider cpu`): the dev overlay uses it for both.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# .npmrc has onnxruntime-node-install=skip: the coordinator runs no model, so no CUDA download.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# The sources, exactly what the repository's .dockerignore lets through (an allowlist: package
# files, the TypeScript folders the `cna` entry point imports, proto/ with the .proto files that
# server reflection loads at run time, schemas/, and the bundled zoo under models/).
COPY . .
USER 10001:10001
EXPOSE 7070 9464
ENTRYPOINT ["node", "cli/cna.js"]
CMD ["coordinator", "--help"]
