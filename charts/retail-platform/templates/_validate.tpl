{{/* Every values mistake the schema cannot express, collected and reported at once. */}}
{{- define "retail-platform.validateValues" -}}
{{- $errors := list -}}
{{- $v := .Values -}}
{{- if and $v.kafka.auth.enabled (not $v.kafka.tls.enabled) -}}
{{- $errors = append $errors "kafka.auth.enabled needs kafka.tls.enabled: SCRAM credentials must not cross the network in clear text" -}}
{{- end -}}
{{- if gt (int $v.kafka.topicReplicas) (int $v.kafka.replicas) -}}
{{- $errors = append $errors (printf "kafka.topicReplicas (%d) cannot exceed kafka.replicas (%d)" (int $v.kafka.topicReplicas) (int $v.kafka.replicas)) -}}
{{- end -}}
{{- if and $v.clickhouse.tls.enabled (not $v.clickhouse.tls.secretName) -}}
{{- $errors = append $errors "clickhouse.tls.enabled needs clickhouse.tls.secretName (a kubernetes.io/tls Secret)" -}}
{{- end -}}
{{- if and (gt (int $v.clickhouse.replicas) 1) (lt (int $v.clickhouse.keeper.replicas) 3) -}}
{{- $errors = append $errors "clickhouse.replicas > 1 needs clickhouse.keeper.replicas >= 3 (a Keeper quorum survives one loss)" -}}
{{- end -}}
{{- if eq $v.objectStore.provider "external" -}}
{{- if not $v.objectStore.external.endpoint -}}
{{- $errors = append $errors "objectStore.provider external needs objectStore.external.endpoint" -}}
{{- end -}}
{{- if not $v.objectStore.existingSecret -}}
{{- $errors = append $errors "objectStore.provider external needs objectStore.existingSecret (keys access-key, secret-key)" -}}
{{- end -}}
{{- end -}}
{{- if and (or $v.streamProcessor.enabled $v.dailyEtl.enabled $v.buildFeatures.enabled $v.trainDemandForecast.enabled $v.predictDaily.enabled $v.optimizeStock.enabled $v.detectAnomalies.enabled $v.classifySlowMovers.enabled $v.trainRecommendations.enabled) $v.sparkOperator.enabled (not $v.operatorsOnly) (not (has .Release.Namespace $v.sparkOperator.spark.jobNamespaces)) -}}
{{- $errors = append $errors (printf "sparkOperator.spark.jobNamespaces must include the release namespace %q, or the Spark operator never runs the stream processor or the batch jobs" .Release.Namespace) -}}
{{- end -}}
{{- /* The day jobs: one day, or a range, never both; the verb says what the day is for. */ -}}
{{- range $key, $verb := dict "dailyEtl" "close" "buildFeatures" "build" -}}
{{- $job := index $v $key -}}
{{- if and $job.enabled $job.date (or $job.from $job.to) -}}
{{- $errors = append $errors (printf "%s: give %s.date, or %s.from and %s.to, not both" $key $key $key $key) -}}
{{- else if and $job.enabled (not $job.date) (not (and $job.from $job.to)) -}}
{{- $errors = append $errors (printf "%s.enabled needs the day to %s: %s.date, or %s.from and %s.to (YYYY-MM-DD)" $key $verb $key $key $key) -}}
{{- else if and $job.enabled $job.from $job.to (lt $job.to $job.from) -}}
{{- $errors = append $errors (printf "%s.to (%s) is before %s.from (%s)" $key $job.to $key $job.from) -}}
{{- end -}}
{{- end -}}
{{- /* The model jobs: the MLflow server holds their models; one run each, told what to do. */ -}}
{{- range $key := list "trainDemandForecast" "predictDaily" "optimizeStock" "detectAnomalies" "classifySlowMovers" "trainRecommendations" -}}
{{- if and (index $v $key).enabled (not $v.mlflow.enabled) -}}
{{- $errors = append $errors (printf "%s.enabled needs mlflow.enabled: the job loads or registers its model on the chart's MLflow server (RETAIL_MLFLOW__TRACKING_URI)" $key) -}}
{{- end -}}
{{- end -}}
{{- if and $v.predictDaily.enabled (not $v.predictDaily.date) -}}
{{- $errors = append $errors "predictDaily.enabled needs the day to predict from: predictDaily.date (YYYY-MM-DD)" -}}
{{- end -}}
{{- /* The insight models: each run is for one closed day (--date). */ -}}
{{- range $key := list "detectAnomalies" "classifySlowMovers" "trainRecommendations" -}}
{{- $job := index $v $key -}}
{{- if and $job.enabled (not $job.date) -}}
{{- $errors = append $errors (printf "%s.enabled needs the closed day the run is for: %s.date (YYYY-MM-DD)" $key $key) -}}
{{- end -}}
{{- end -}}
{{- /* The forecast monitoring: SQL on the release's warehouse, for one day it names. */ -}}
{{- if $v.evaluateForecasts.enabled -}}
{{- if not $v.clickhouse.enabled -}}
{{- $errors = append $errors "evaluateForecasts.enabled needs clickhouse.enabled: the job's SQL runs on the release's ClickHouse (RETAIL_WAREHOUSE__URL)" -}}
{{- end -}}
{{- if not $v.evaluateForecasts.date -}}
{{- $errors = append $errors "evaluateForecasts.enabled needs the day to evaluate: evaluateForecasts.date (YYYY-MM-DD, a day the feature build has closed)" -}}
{{- end -}}
{{- $refDays := int $v.evaluateForecasts.referenceDays -}}
{{- if and (gt $refDays 0) (lt $refDays 7) -}}
{{- $errors = append $errors (printf "evaluateForecasts.referenceDays (%d) must be 0 (the job's default, 56) or at least 7, the recent week it is compared with" $refDays) -}}
{{- end -}}
{{- end -}}
{{- if and $v.optimizeStock.enabled $v.optimizeStock.train $v.optimizeStock.date -}}
{{- $errors = append $errors "optimizeStock: give optimizeStock.date (the day's recommendations) or optimizeStock.train (the lead-time regression), not both" -}}
{{- else if and $v.optimizeStock.enabled (not $v.optimizeStock.train) (not $v.optimizeStock.date) -}}
{{- $errors = append $errors "optimizeStock.enabled needs optimizeStock.date (YYYY-MM-DD, the day's recommendations) or optimizeStock.train: true (the lead-time regression)" -}}
{{- end -}}
{{- if and $v.airflow.enabled $v.airflow.postgresql.enabled -}}
{{- $errors = append $errors "airflow.postgresql.enabled: the Airflow chart's bundled Bitnami PostgreSQL is not supported (its images are gone); set airflow.data.metadataSecretName to a Secret with your database URL" -}}
{{- end -}}
{{- if $v.mlflow.enabled -}}
{{- if and $v.mlflow.database.inCluster $v.mlflow.database.existingSecret -}}
{{- $errors = append $errors "mlflow.database: give mlflow.database.existingSecret or mlflow.database.inCluster, not both" -}}
{{- else if and $v.mlflow.database.inCluster (not (and $v.airflow.enabled $v.airflowDatabase.inCluster)) -}}
{{- $errors = append $errors "mlflow.database.inCluster shares the PostgreSQL of airflowDatabase.inCluster: turn on airflowDatabase.inCluster (with airflow.enabled), or give mlflow.database.existingSecret" -}}
{{- else if not (or $v.mlflow.database.inCluster $v.mlflow.database.existingSecret) -}}
{{- $errors = append $errors "mlflow.enabled needs a PostgreSQL: mlflow.database.existingSecret (a Secret with key connection, postgresql://user:password@host:5432/db), or on dev clusters mlflow.database.inCluster" -}}
{{- end -}}
{{- end -}}
{{- /* The dashboards: a password for their warehouse user, and a proxy to trust. */ -}}
{{- if $v.dashboard.enabled -}}
{{- if and (not $v.clickhouse.enabled) (not $v.dashboard.existingSecret) -}}
{{- $errors = append $errors "dashboard.enabled needs the password of the warehouse user `dashboard`: dashboard.existingSecret (a Secret with key dashboard-password), or clickhouse.enabled (the chart's ClickHouse Secret holds it)" -}}
{{- end -}}
{{- if not (or $v.dashboard.authProxy.podSelector.matchLabels $v.dashboard.authProxy.podSelector.matchExpressions) -}}
{{- $errors = append $errors "dashboard.enabled needs dashboard.authProxy.podSelector, the labels of the authenticating proxy's pods (matchLabels or matchExpressions; oauth2-proxy's chart: app.kubernetes.io/name: oauth2-proxy): only they may send the user header" -}}
{{- end -}}
{{- end -}}
{{- if $errors -}}
{{- fail (printf "\nretail-platform values:\n  - %s" (join "\n  - " $errors)) -}}
{{- end -}}
{{- end -}}
