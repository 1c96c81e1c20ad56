{{/* Chart name, overridable. */}}
{{- define "retail-platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every object name: the release name, with the chart name unless it is already in it. */}}
{{- define "retail-platform.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "retail-platform.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "retail-platform.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object; call with (dict "ctx" $ "component" "name"). */}}
{{- define "retail-platform.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: {{ include "retail-platform.name" .ctx }}
{{ include "retail-platform.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select one component's pods. */}}
{{- define "retail-platform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "retail-platform.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* A job image reference; call with (dict "ctx" $ "image" .Values.images.<job>). */}}
{{- define "retail-platform.image" -}}
{{- $tag := default .ctx.Chart.AppVersion .ctx.Values.image.tag -}}
{{- if .ctx.Values.image.registry -}}
{{- printf "%s/%s:%s" .ctx.Values.image.registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Names of the Secrets the jobs read (yours or generated). */}}
{{- define "retail-platform.clickhouseSecret" -}}
{{- default (printf "%s-clickhouse" (include "retail-platform.fullname" .)) .Values.clickhouse.auth.existingSecret -}}
{{- end -}}
{{- define "retail-platform.objectStoreSecret" -}}
{{- default (printf "%s-object-store" (include "retail-platform.fullname" .)) .Values.objectStore.existingSecret -}}
{{- end -}}

{{/* The in-cluster PostgreSQL of airflowDatabase.inCluster (StatefulSet and Service), which mlflow.database.inCluster shares. */}}
{{- define "retail-platform.inClusterDatabase" -}}
{{- printf "%s-airflow-db" (include "retail-platform.fullname" .) -}}
{{- end -}}

{{/* The MLflow server: object names, in-cluster URL (the jobs' RETAIL_MLFLOW__TRACKING_URI), its database Secret (key connection). */}}
{{- define "retail-platform.mlflowName" -}}
{{- printf "%s-mlflow" (include "retail-platform.fullname" .) -}}
{{- end -}}
{{- define "retail-platform.mlflowUrl" -}}
{{- printf "http://%s.%s.svc:5000" (include "retail-platform.mlflowName" .) .Release.Namespace -}}
{{- end -}}
{{- define "retail-platform.mlflowDatabaseSecret" -}}
{{- default (printf "%s-db" (include "retail-platform.mlflowName" .)) .Values.mlflow.database.existingSecret -}}
{{- end -}}

{{/*
Host headers the MLflow server answers (--allowed-hosts; mlflow 3.17 otherwise answers only
localhost and private IPs, and refuses a Service name with 403): the Service's names in the
cluster, localhost for port-forward, and mlflow.allowedHosts. /health is exempt (probes).
*/}}
{{- define "retail-platform.mlflowAllowedHosts" -}}
{{- $svc := include "retail-platform.mlflowName" . -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts := list -}}
{{- range $host := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) "localhost" "127.0.0.1" -}}
{{- $hosts = append (append $hosts $host) (printf "%s:*" $host) -}}
{{- end -}}
{{- concat $hosts .Values.mlflow.allowedHosts | uniq | join "," -}}
{{- end -}}

{{/* ServiceAccount names. */}}
{{- define "retail-platform.sparkServiceAccount" -}}
{{- printf "%s-spark" (include "retail-platform.fullname" .) -}}
{{- end -}}
{{- define "retail-platform.jobServiceAccount" -}}
{{- printf "%s-job" (include "retail-platform.fullname" .) -}}
{{- end -}}

{{/* Kafka cluster name and client address (TLS listener when tls is on). */}}
{{- define "retail-platform.kafkaName" -}}
{{- include "retail-platform.fullname" . -}}
{{- end -}}
{{- define "retail-platform.kafkaBootstrap" -}}
{{- printf "%s-kafka-bootstrap.%s.svc:%d" (include "retail-platform.kafkaName" .) .Release.Namespace (ternary 9093 9092 .Values.kafka.tls.enabled | int) -}}
{{- end -}}

{{/* ClickHouse: the installation's name and the in-cluster HTTP(S) URL of its cluster Service. */}}
{{- define "retail-platform.clickhouseName" -}}
{{- include "retail-platform.fullname" . -}}
{{- end -}}
{{- define "retail-platform.clickhouseUrl" -}}
{{- printf "%s://clickhouse-%s.%s.svc:%d" (ternary "https" "http" .Values.clickhouse.tls.enabled) (include "retail-platform.clickhouseName" .) .Release.Namespace (ternary 8443 8123 .Values.clickhouse.tls.enabled | int) -}}
{{- end -}}

{{/* S3 endpoint of the lake: the Tenant's in-cluster Service, or the external one. */}}
{{- define "retail-platform.s3Endpoint" -}}
{{- if eq .Values.objectStore.provider "minio" -}}
{{- printf "%s://minio.%s.svc" (ternary "https" "http" .Values.objectStore.minio.tls) .Release.Namespace -}}
{{- else -}}
{{- .Values.objectStore.external.endpoint -}}
{{- end -}}
{{- end -}}

{{/*
Spark's S3A on the object store (hadoop-aws is in the Spark images) as sparkConf entries, with
the credentials from the pods' AWS_* variables (sparkPod with "s3a" true).
*/}}
{{- define "retail-platform.s3aConf" -}}
spark.hadoop.fs.s3a.endpoint: {{ include "retail-platform.s3Endpoint" . | quote }}
spark.hadoop.fs.s3a.endpoint.region: {{ .Values.objectStore.region | quote }}
spark.hadoop.fs.s3a.path.style.access: "true"
spark.hadoop.fs.s3a.aws.credentials.provider: software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider
{{- end -}}

{{/*
The model jobs' MLFLOW_DFS_TMP: where MLflow's Spark flavor has Spark's ML writer and reader
(on the executors) put a model between the driver's disk and the MLflow server, tmp/mlflow/ in
the processed bucket, through S3A. Saving removes its copy; loading leaves one (docs/deploy.md).
*/}}
{{- define "retail-platform.mlflowDfsTmp" -}}
{{- printf "s3a://%s/tmp/mlflow" .Values.objectStore.buckets.processed -}}
{{- end -}}

{{/*
A generated secret value that survives upgrades: the value already in the cluster if the
Secret exists (lookup), else a new random one. Call with (dict "ctx" $ "secret" name "key" key).
*/}}
{{- define "retail-platform.generatedValue" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $existing (hasKey $existing.data .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- randAlphaNum 32 | b64enc -}}
{{- end -}}
{{- end -}}

{{/* Restricted security context of every container the chart defines. */}}
{{- define "retail-platform.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "retail-platform.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Secret settings of a job as env entries; call with (dict "ctx" $ "kafkaUser" "stream" "warehouseKey" "etl-writer-password"),
and "lake" false for a job that never touches the lake. The rest of the contract comes from the -env ConfigMap (envFrom).
*/}}
{{- define "retail-platform.secretEnv" -}}
{{- $ctx := .ctx -}}
- name: RETAIL_WAREHOUSE__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "retail-platform.clickhouseSecret" $ctx }}
      key: {{ .warehouseKey }}
{{- if dig "lake" true . }}
- name: RETAIL_LAKE__S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "retail-platform.objectStoreSecret" $ctx }}
      key: access-key
- name: RETAIL_LAKE__S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "retail-platform.objectStoreSecret" $ctx }}
      key: secret-key
{{- end }}
{{- if and $ctx.Values.kafka.auth.enabled .kafkaUser }}
- name: RETAIL_KAFKA__SASL_USERNAME
  value: {{ printf "%s-%s" (include "retail-platform.kafkaName" $ctx) .kafkaUser }}
- name: RETAIL_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ printf "%s-%s" (include "retail-platform.kafkaName" $ctx) .kafkaUser }}
      key: password
{{- end }}
{{- if and $ctx.Values.kafka.tls.enabled .kafkaUser }}
- name: RETAIL_KAFKA__SSL_CAFILE
  value: /etc/retail/kafka-ca/ca.crt
{{- end }}
{{- end -}}

{{/* The Kafka cluster CA as a volume (TLS on), mounted at /etc/retail/kafka-ca. */}}
{{- define "retail-platform.kafkaCaVolume" -}}
- name: kafka-ca
  secret:
    secretName: {{ include "retail-platform.kafkaName" . }}-cluster-ca-cert
    items:
      - key: ca.crt
        path: ca.crt
{{- end -}}
{{- define "retail-platform.kafkaCaMount" -}}
- name: kafka-ca
  mountPath: /etc/retail/kafka-ca
  readOnly: true
{{- end -}}

{{/* Spark in every Spark job image: the pyspark of constraints.txt (tests/manifests checks both). */}}
{{- define "retail-platform.sparkVersion" -}}
4.3.0
{{- end -}}

{{/* The driver and executor pods of the release's Spark jobs. */}}
{{- define "retail-platform.sparkPodSelector" -}}
matchLabels:
  app.kubernetes.io/name: {{ include "retail-platform.name" . }}
  app.kubernetes.io/instance: {{ .Release.Name }}
matchExpressions:
  - key: app.kubernetes.io/component
    operator: In
    values: [stream-processor, daily-etl, build-features, train-demand-forecast, predict-daily, optimize-stock, detect-anomalies, classify-slow-movers, train-recommendations]
{{- end -}}

{{/*
What a Spark driver and its executors share: account, settings, security, volumes. Call with
(dict "ctx" $ "component" name "kafkaUser" user-or-"" "env" extra-entries "s3a" bool "lake" bool):
no kafkaUser, no Kafka credentials or CA; s3a gives Spark's S3A the object-store keys; "lake"
false leaves out the lake's keys (RETAIL_LAKE__S3_*) of a job that never reads it.
*/}}
{{- define "retail-platform.sparkPod" -}}
serviceAccount: {{ include "retail-platform.sparkServiceAccount" .ctx }}
labels:
  {{- include "retail-platform.selectorLabels" . | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ include "retail-platform.fullname" .ctx }}-env
env:
  {{- include "retail-platform.secretEnv" (dict "ctx" .ctx "kafkaUser" .kafkaUser "warehouseKey" "etl-writer-password" "lake" (dig "lake" true .)) | nindent 2 }}
  {{- with .env }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- if .s3a }}
  - name: AWS_ACCESS_KEY_ID
    valueFrom:
      secretKeyRef:
        name: {{ include "retail-platform.objectStoreSecret" .ctx }}
        key: access-key
  - name: AWS_SECRET_ACCESS_KEY
    valueFrom:
      secretKeyRef:
        name: {{ include "retail-platform.objectStoreSecret" .ctx }}
        key: secret-key
  {{- end }}
podSecurityContext:
  {{- include "retail-platform.podSecurityContext" .ctx | nindent 2 }}
securityContext:
  {{- include "retail-platform.containerSecurityContext" .ctx | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- if and .ctx.Values.kafka.tls.enabled .kafkaUser }}
  {{- include "retail-platform.kafkaCaMount" .ctx | nindent 2 }}
  {{- end }}
{{- end -}}


{{/* Name of a day job's SparkApplication, the day or the range in it; call with (dict "ctx" $ "component" name "values" .Values.<job>). */}}
{{- define "retail-platform.dayJobName" -}}
{{- $days := ternary .values.date (printf "%s-%s" .values.from .values.to) (not (empty .values.date)) -}}
{{- printf "%s-%s-%s" (include "retail-platform.fullname" .ctx) .component $days -}}
{{- end -}}

{{/* Name of a model job's SparkApplication, with "train" or the day it is given (date, asOf) if any; call with (dict "ctx" $ "component" name "values" .Values.<job>). */}}
{{- define "retail-platform.modelJobName" -}}
{{- $name := printf "%s-%s" (include "retail-platform.fullname" .ctx) .component -}}
{{- $suffix := ternary "train" (coalesce .values.date .values.asOf "") (dig "train" false .values) -}}
{{- ternary (printf "%s-%s" $name $suffix) $name (not (empty $suffix)) -}}
{{- end -}}

{{/*
A Spark batch job over store-local days (daily ETL, feature build): .values.date, or
.values.from to .values.to (the job takes them oldest first), as a sparkBatchJob named after
them. Call with (dict "ctx" $ "component" name "values" .Values.<job> "image" .Values.images.<job>).
*/}}
{{- define "retail-platform.sparkDayJob" -}}
{{- $days := ternary (list "--date" .values.date) (list "--from" .values.from "--to" .values.to) (not (empty .values.date)) -}}
{{- include "retail-platform.sparkBatchJob" (merge (dict "name" (include "retail-platform.dayJobName" .) "arguments" $days) .) -}}
{{- end -}}

{{/*
A Spark batch job run once: a SparkApplication .name that runs jobs/<component in
snake_case>.py with .arguments from the job's image, with the warehouse settings and, unless
"lake" is false, the lake's keys. "mlflowDfs" true (the model jobs) puts Hadoop's default
filesystem and MLFLOW_DFS_TMP on the object store through S3A, with its keys as AWS_*: MLflow's
Spark flavor copies a model between the driver's disk and Spark's ML writer and reader, which
run on the executors, through that filesystem, so it must be one the pods share. Call with
(dict "ctx" $ "component" name "name" app-name "arguments" list "values" .Values.<job> "image"
.Values.images.<job> "lake" bool "mlflowDfs" bool).
*/}}
{{- define "retail-platform.sparkBatchJob" -}}
{{- $ctx := .ctx -}}
{{- $e := .values -}}
{{- $shuffle := dict "name" "RETAIL_STREAM__SHUFFLE_PARTITIONS" "value" (mul (int $e.executor.instances) (int $e.executor.cores) 2 | toString) -}}
{{- $env := list $shuffle -}}
{{- if .mlflowDfs -}}
{{- $env = append $env (dict "name" "MLFLOW_DFS_TMP" "value" (include "retail-platform.mlflowDfsTmp" $ctx)) -}}
{{- end -}}
{{- $pod := dict "ctx" $ctx "component" .component "kafkaUser" "" "s3a" (dig "mlflowDfs" false .) "lake" (dig "lake" true .) "env" $env -}}
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata:
  name: {{ .name }}
  labels:
    {{- include "retail-platform.labels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
spec:
  type: Python
  pythonVersion: "3"
  mode: cluster
  image: {{ include "retail-platform.image" (dict "ctx" $ctx "image" .image) }}
  imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
  {{- with $ctx.Values.image.pullSecrets }}
  imagePullSecrets: {{ toJson . }}
  {{- end }}
  mainApplicationFile: local:///opt/retail/jobs/{{ .component | replace "-" "_" }}.py
  {{- with .arguments }}
  arguments:
    {{- range . }}
    - {{ . | quote }}
    {{- end }}
  {{- end }}
  sparkVersion: {{ include "retail-platform.sparkVersion" $ctx | quote }}
  # A failed run (the warehouse, the lake or the MLflow server unreachable, a day not ready)
  # runs again: safe for every batch job. The day jobs and the predictions never write a row
  # twice; a training registers another version, the champion only if it is better.
  restartPolicy:
    type: OnFailure
    onFailureRetries: {{ $e.retries }}
    onFailureRetryInterval: {{ $e.retryIntervalSeconds }}
    onSubmissionFailureRetries: 3
    onSubmissionFailureRetryInterval: 60
  {{- if .mlflowDfs }}
  # MLflow's Spark flavor copies a model between the driver's disk and MLFLOW_DFS_TMP with
  # Hadoop's default filesystem: the object store (S3A), which driver and executors share.
  sparkConf:
    spark.hadoop.fs.defaultFS: {{ printf "s3a://%s" $ctx.Values.objectStore.buckets.processed | quote }}
    {{- include "retail-platform.s3aConf" $ctx | nindent 4 }}
  {{- end }}
  # The root filesystem is read-only: /tmp (Spark's and Python's temp files) is an emptyDir.
  volumes:
    - name: tmp
      emptyDir: {}
  driver:
    cores: {{ $e.driver.cores }}
    memory: {{ $e.driver.memory | quote }}
    {{- include "retail-platform.sparkPod" $pod | nindent 4 }}
  executor:
    instances: {{ $e.executor.instances }}
    cores: {{ $e.executor.cores }}
    memory: {{ $e.executor.memory | quote }}
    {{- include "retail-platform.sparkPod" $pod | nindent 4 }}
{{- end -}}
