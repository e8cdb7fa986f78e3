#!/bin/bash
# Endpoint and keys come from the environment (docker-compose.yml, from .env).
# spark-submit execs the JVM, so the server replaces this shell and receives SIGTERM
# itself (start-connect-server.sh would keep a shell in between via spark-daemon.sh).
set -euo pipefail
exec /opt/spark/bin/spark-submit \
  --class org.apache.spark.sql.connect.service.SparkConnectServer \
  --name "Spark Connect server" \
  --conf "spark.hadoop.fs.s3a.endpoint=${S3_ENDPOINT}" \
  --conf "spark.hadoop.fs.s3a.access.key=${S3_ACCESS_KEY}" \
  --conf "spark.hadoop.fs.s3a.secret.key=${S3_SECRET_KEY}"
