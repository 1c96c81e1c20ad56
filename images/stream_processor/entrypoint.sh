#!/usr/bin/env bash
# Entrypoint of the stream processor image for Spark on Kubernetes.
#
# The Spark operator submits the application; Spark then creates the driver pod with the
# arguments `driver --properties-file ... --class org.apache.spark.deploy.PythonRunner
# local:///opt/retail/jobs/stream_processor.py`, and the driver creates executor pods with
# the single argument `executor` and their settings in SPARK_* variables. Both rely on the
# image's entrypoint to turn that into a JVM command, which apache/spark images provide and a
# pip-installed pyspark does not; this is that contract for this image:
#
#   driver ARGS...   spark-submit in client mode inside the driver pod, bound to the pod IP
#   executor         the executor backend JVM, wired to the driver from SPARK_* variables
#   anything else    run as given (a shell, `python -c ...`, `spark-submit ...` by hand)
#
# Processes run under tini so signals reach the JVM and zombies are reaped. The image's user
# (UID 10001) exists in /etc/passwd, so nothing has to be patched at start; the root
# filesystem can stay read-only.
set -euo pipefail

: "${SPARK_HOME:?SPARK_HOME must point at the Spark installation (the image sets /opt/spark)}"

java_bin="java"
if [[ -n "${JAVA_HOME:-}" ]]; then
  java_bin="${JAVA_HOME}/bin/java"
fi

require() {
  local name
  for name in "$@"; do
    if [[ -z "${!name:-}" ]]; then
      echo "entrypoint: ${name} is not set; '${mode}' is started by Spark on Kubernetes," \
        "which sets it (run other commands directly instead)" >&2
      exit 2
    fi
  done
}

mode="${1:-}"
case "${mode}" in
  driver)
    shift
    require SPARK_DRIVER_BIND_ADDRESS
    exec tini -s -- "${SPARK_HOME}/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS}" \
      --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=${SPARK_DRIVER_BIND_ADDRESS}" \
      --deploy-mode client \
      "$@"
    ;;
  executor)
    require SPARK_EXECUTOR_MEMORY SPARK_DRIVER_URL SPARK_EXECUTOR_ID SPARK_EXECUTOR_CORES \
      SPARK_APPLICATION_ID SPARK_EXECUTOR_POD_IP SPARK_RESOURCE_PROFILE_ID \
      SPARK_EXECUTOR_POD_NAME
    # Spark's conf dir (mounted by Spark), its jars with the Kafka and S3A connectors the
    # image adds, then anything the pod spec asks for.
    classpath="${SPARK_CONF_DIR:-${SPARK_HOME}/conf}:${SPARK_HOME}/jars/*"
    if [[ -n "${SPARK_EXTRA_CLASSPATH:-}" ]]; then
      classpath="${classpath}:${SPARK_EXTRA_CLASSPATH}"
    fi
    # Spark passes the executor's JVM options (module opens, extraJavaOptions) one per
    # SPARK_JAVA_OPT_<n> variable, in order.
    java_opts=()
    while IFS= read -r name; do
      java_opts+=("${!name}")
    done < <(compgen -v SPARK_JAVA_OPT_ | sort -t_ -k4 -n)
    exec tini -s -- "${java_bin}" "${java_opts[@]}" \
      -Xms"${SPARK_EXECUTOR_MEMORY}" -Xmx"${SPARK_EXECUTOR_MEMORY}" \
      -cp "${classpath}" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "${SPARK_DRIVER_URL}" \
      --executor-id "${SPARK_EXECUTOR_ID}" \
      --cores "${SPARK_EXECUTOR_CORES}" \
      --app-id "${SPARK_APPLICATION_ID}" \
      --hostname "${SPARK_EXECUTOR_POD_IP}" \
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID}" \
      --podName "${SPARK_EXECUTOR_POD_NAME}"
    ;;
  "")
    echo "entrypoint: no command; expected 'driver ARGS...', 'executor' or a command to run" >&2
    exit 2
    ;;
  *)
    exec "$@"
    ;;
esac
