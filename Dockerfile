# The sannuo hub as an image: the repository's code and its production packages, installed
# here (compose no longer mounts the host's node_modules, whose native better-sqlite3 may not
# match this system), with the CJK font the PDF reports are set in (hub/app/report.ts CJK_FONT).
#   docker build -t sannuo-hub .
#   docker run -v sannuo-data:/data -p 8080:8080 -p 1883:1883 sannuo-hub
# deploy/compose.yaml builds it for a district.
FROM node:20-bookworm-slim

# fonts-noto-cjk: /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc for the reports;
# tini forwards SIGTERM to the hub (which then finishes its commits and checkpoints); -s makes it
# a subreaper, so it also works where compose shares the pid namespace with Mosquitto.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-noto-cjk tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
# Production packages only; better-sqlite3 fetches its prebuilt binary for this platform.
RUN npm ci --omit=dev && npm cache clean --force

COPY bin ./bin
COPY cli ./cli
COPY firmware ./firmware
COPY hub ./hub
COPY simulator ./simulator
COPY scenarios ./scenarios
COPY manifest.json tsconfig.json README.md ./

# The data folder: database, hub key, checkpoints. Owner-only, as the hub keeps it.
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
VOLUME /data
ENV NODE_ENV=production SANNUO_DATA=/data SANNUO_HTTP_HOST=0.0.0.0
EXPOSE 8080 1883

# Unprivileged by default; a district's compose runs its hubs as root only so that they can give
# Mosquitto (another container's user, 1883) its password files (deploy/README.md).
USER node
HEALTHCHECK --interval=10s --timeout=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SANNUO_HTTP_PORT||8080)+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "-s", "--"]
CMD ["node", "bin/sannuo.js", "hub"]
