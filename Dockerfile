# The blindear app image: every stage runs from it (`blindear worker scorer`, `blindear stream`, ...).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY schemas ./schemas
COPY pipeline ./pipeline
COPY connectors ./connectors
COPY bench ./bench
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
RUN ln -s /app/bin/blindear.js /usr/local/bin/blindear
USER node
ENTRYPOINT ["blindear"]
CMD ["--help"]
