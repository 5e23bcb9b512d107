# Minimal image: runs the service from source with tsx. A multi-stage production image follows.
FROM node:22-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
 && npm ci --no-audit --no-fund \
 && apt-get purge -y python3 make g++ && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
COPY tsconfig.json ./
COPY src ./src
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8030 DATABASE_URL=sqlite:/data/ha_ai_agent.db
VOLUME ["/data"]
EXPOSE 8030
USER node
CMD ["npx", "tsx", "src/main.ts"]
