{{/*
The insight models of issue 19 (anomalies, slow movers, recommendations): one run of
jobs/<component in snake_case>.py for .values.date doing .values.task (train, score or all),
as a sparkBatchJob named <release>-<component>-<date>, or <release>-<component>-<task>-<date>
for a train or score run (a day's training and scoring are two applications). They read the
warehouse and the MLflow server only, no lake; "mlflowDfs" true for a Spark ML model (MLflow's
Spark flavor, through S3A). Call with (dict "ctx" $ "component" name "values"
.Values.<job> "image" .Values.images.<job> "mlflowDfs" bool).
*/}}
{{- define "retail-platform.insightJob" -}}
{{- $arguments := list "--date" .values.date "--task" .values.task -}}
{{- include "retail-platform.sparkBatchJob" (merge (dict "name" (include "retail-platform.insightJobName" .) "arguments" $arguments "lake" false) .) -}}
{{- end -}}

{{/* Name of an insight model's run (see insightJob); call with (dict "ctx" $ "component" name "values" .Values.<job>). */}}
{{- define "retail-platform.insightJobName" -}}
{{- $task := ternary "" (printf "-%s" .values.task) (eq .values.task "all") -}}
{{- printf "%s-%s%s-%s" (include "retail-platform.fullname" .ctx) .component $task .values.date -}}
{{- end -}}
