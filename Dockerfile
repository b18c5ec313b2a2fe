# The blindear app image: every service runs from it (`blindear worker scorer`, `blindear monitor`, ...).
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
ENV NODE_ENV=production \
    BLINDEAR_METRICS_PORT=9464 \
    BLINDEAR_LOG_FORMAT=json
COPY --from=build /app /app
RUN ln -s /app/bin/blindear.js /usr/local/bin/blindear \
 && mkdir -p /var/lib/blindear /out && chown node:node /var/lib/blindear /out
USER node
EXPOSE 9464
# Ready = the process's producer is connected and its consumers have joined their groups (/readyz).
# One-shot commands (topics, enroll) exit before the first check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.BLINDEAR_METRICS_PORT||9464)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["blindear"]
CMD ["--help"]
