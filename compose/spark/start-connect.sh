#!/bin/bash
# Endpoint and keys come from the environment (docker-compose.yml, from .env).
set -euo pipefail
exec /opt/spark/sbin/start-connect-server.sh \
  --conf "spark.hadoop.fs.s3a.endpoint=${S3_ENDPOINT}" \
  --conf "spark.hadoop.fs.s3a.access.key=${S3_ACCESS_KEY}" \
  --conf "spark.hadoop.fs.s3a.secret.key=${S3_SECRET_KEY}"
