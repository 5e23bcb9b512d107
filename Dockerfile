# syntax=docker/dockerfile:1
# Production image: TypeScript compiled in a build stage, production dependencies only, run as the
# unprivileged `node` user with the SQLite database on the /data volume. Configuration and secrets come
# from the environment at run time (`docker run --env-file`), never from the image.

# Node 22 is a maintained LTS line; the pinned dependencies all accept it.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 compiles its native module during npm ci.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8030 \
    DATABASE_URL=sqlite:/data/ha_ai_agent.db
WORKDIR /app
# Root owns the application files, so the service cannot change its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8030
# /health is liveness only; orchestrators that route traffic should also probe /ready.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8030) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM lets running replies finish (SHUTDOWN_GRACE_SECONDS, default 10 s, plus up to
# AGENT_TOOL_TIMEOUT_SECONDS, default 30 s, for a service call already sent) and ends open subscriptions
# cleanly. Docker kills the container 10 s after SIGTERM unless told otherwise, and an image cannot change
# that: run it with `--stop-timeout 50` (compose: `stop_grace_period: 50s`), see docs/operations.md.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
