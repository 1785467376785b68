# syntax=docker/dockerfile:1.7
# pm-agent image: multi-stage, production dependencies only, runs as uid 1000 on a read-only root
# filesystem (writes go to /tmp and /data, mounted by the chart), node as PID 1 in exec form so
# SIGTERM reaches the drain handler. No secret is baked in: configuration comes from the
# environment at run time.
#   docker build -t pm-agent:dev .
#   docker run --rm -p 3100:3100 --read-only --tmpfs /tmp -v pm-agent-data:/data pm-agent:dev
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- build: all dependencies, compile TypeScript to dist/
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY packages/client ./packages/client
RUN npm run build

# ---- prod-deps: production dependencies only, no install scripts, no npm cache
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

# ---- runtime
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pm-agent" \
      org.opencontainers.image.description="Coordinates fleets of autonomous AI coding agents over Socket.IO" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production \
    PORT=3100 \
    MANAGEMENT_PORT=9464 \
    PM_AGENT_DATA_DIR=/data \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
# npm and corepack are not needed at run time: drop them (and their CVEs) from the image.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
 && mkdir -p /data && chown 1000:1000 /data && chmod 0700 /data
# Code and dependencies are owned by root and read-only to the runtime user.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The SDK, used by `pm-agent mcp` (the stdio MCP bridge) in the image.
COPY --from=build /app/packages/client/dist ./packages/client/dist
COPY --from=build /app/packages/client/package.json ./packages/client/package.json
COPY package.json ./
# The `node` user of the official image (uid/gid 1000), numeric so runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3100 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3100)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself (pm-agent drains, then exits).
# Migrations: `node dist/cli/migrate.js` (what `npm run migrate` runs after building).
CMD ["node", "dist/main.js"]
