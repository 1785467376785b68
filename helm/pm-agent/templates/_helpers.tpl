{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "pm-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, or <release> when it already contains the chart name. */}}
{{- define "pm-agent.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "pm-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "pm-agent.labels" -}}
helm.sh/chart: {{ include "pm-agent.chart" . }}
app.kubernetes.io/name: {{ include "pm-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pm-agent
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector of the server pods. The component keeps hook and test pods out of the Services. */}}
{{- define "pm-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pm-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "pm-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pm-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "pm-agent.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "pm-agent.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "pm-agent.fullname" .) }}
{{- end }}

{{- define "pm-agent.external" -}}
{{- if eq .Values.database.mode "external" }}true{{ end }}
{{- end }}

{{/* True when some autoscaler owns the replica count. */}}
{{- define "pm-agent.autoscaled" -}}
{{- if or .Values.autoscaling.enabled .Values.keda.enabled }}true{{ end }}
{{- end }}

{{/* Seconds of the drain deadline, rounded up. */}}
{{- define "pm-agent.drainSeconds" -}}
{{- div (add (int .Values.config.shutdownGraceMs) 999) 1000 }}
{{- end }}

{{/* preStop sleep + drain + margin, or the explicit value once checked against preStop + drain. */}}
{{- define "pm-agent.terminationGracePeriodSeconds" -}}
{{- $floor := add (int .Values.lifecycle.preStopSleepSeconds) (int (include "pm-agent.drainSeconds" .)) }}
{{- $explicit := .Values.lifecycle.terminationGracePeriodSeconds }}
{{- if kindIs "invalid" $explicit }}
{{- add $floor (int .Values.lifecycle.terminationGraceMarginSeconds) }}
{{- else if le (int $explicit) $floor }}
{{- fail (printf "lifecycle.terminationGracePeriodSeconds (%d) must be longer than preStopSleepSeconds + SHUTDOWN_GRACE_MS/1000 (%d): pods would be killed mid-drain" (int $explicit) $floor) }}
{{- else }}
{{- int $explicit }}
{{- end }}
{{- end }}

{{/* Non-secret configuration: the ConfigMap's data. */}}
{{- define "pm-agent.configData" -}}
PORT: {{ .Values.config.port | quote }}
MANAGEMENT_ENABLED: "true"
MANAGEMENT_PORT: {{ .Values.config.managementPort | quote }}
HOST: "0.0.0.0"
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
LOG_FORMAT: {{ .Values.config.logFormat | quote }}
SHUTDOWN_GRACE_MS: {{ .Values.config.shutdownGraceMs | quote }}
DRAIN_NOTICE_MS: {{ .Values.config.drainNoticeMs | quote }}
PM_AGENT_DATA_DIR: "/data"
DATABASE_POOL_MAX: {{ .Values.database.poolMax | quote }}
DATABASE_STATEMENT_TIMEOUT_MS: {{ .Values.database.statementTimeoutMs | quote }}
{{- with .Values.redis.clusterNodes }}
REDIS_CLUSTER_NODES: {{ join "," . | quote }}
{{- end }}
REDIS_KEY_PREFIX: {{ .Values.redis.keyPrefix | quote }}
RABBITMQ_QUEUE_TYPE: {{ .Values.rabbitmq.queueType | quote }}
RABBITMQ_PREFETCH: {{ .Values.rabbitmq.prefetch | quote }}
{{- if .Values.consul.enabled }}
CONSUL_SERVICE_NAME: {{ .Values.consul.serviceName | default (include "pm-agent.fullname" .) | quote }}
CONSUL_TAGS: {{ join "," .Values.consul.tags | quote }}
CONSUL_META: {{ include "pm-agent.consulMeta" . | quote }}
CONSUL_CHECK_INTERVAL: {{ .Values.consul.checkInterval | quote }}
CONSUL_CHECK_TIMEOUT: {{ .Values.consul.checkTimeout | quote }}
CONSUL_DEREGISTER_AFTER: {{ .Values.consul.deregisterAfter | quote }}
{{- end }}
KANBAN_SYNC_INTERVAL_SECONDS: {{ .Values.kanban.syncIntervalSeconds | quote }}
LEADER_ELECTION: {{ .Values.leaderElection.mode | quote }}
LEADER_ELECTION_NAME: {{ include "pm-agent.fullname" . | quote }}
LEADER_LEASE_SECONDS: {{ .Values.leaderElection.leaseSeconds | quote }}
JWT_TTL_SECONDS: {{ .Values.auth.jwtTtlSeconds | quote }}
KEY_REVOCATION_POLL_MS: {{ .Values.auth.keyRevocationPollMs | quote }}
{{- if include "pm-agent.jwksEnabled" . }}
PM_AGENT_JWT_PUBLIC_KEYS_FILE: {{ include "pm-agent.jwksPath" . | quote }}
{{- with .Values.auth.externalTokens.issuer }}
PM_AGENT_JWT_EXTERNAL_ISSUER: {{ . | quote }}
{{- end }}
{{- end }}
MAX_CONNECTIONS_PER_REPLICA: {{ .Values.limits.maxConnectionsPerReplica | quote }}
MAX_CALLS_IN_FLIGHT_PER_SOCKET: {{ .Values.limits.maxCallsInFlightPerSocket | quote }}
MAX_REFUSED_CALLS_PER_SOCKET: {{ .Values.limits.maxRefusedCallsPerSocket | quote }}
TOOL_CALL_TIMEOUT_MS: {{ .Values.limits.toolCallTimeoutMs | quote }}
HTTP_REQUEST_TIMEOUT_MS: {{ .Values.limits.httpRequestTimeoutMs | quote }}
HTTP_HEADERS_TIMEOUT_MS: {{ .Values.limits.httpHeadersTimeoutMs | quote }}
{{- with .Values.dashboard.allowedOrigins }}
DASHBOARD_ALLOWED_ORIGINS: {{ join "," . | quote }}
{{- end }}
DASHBOARD_REFRESH_MS: {{ .Values.dashboard.refreshMs | quote }}
{{- range $k, $v := .Values.config.extra }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}

{{- define "pm-agent.consulMeta" -}}
{{- $pairs := list }}
{{- range $k, $v := .Values.consul.meta }}
{{- $pairs = append $pairs (printf "%s=%s" $k (toString $v)) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* Secret data: only the values that are set. */}}
{{- define "pm-agent.secretData" -}}
{{- $k := .Values.secrets.keys }}
{{- with .Values.database.url }}
{{ $k.databaseUrl }}: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.redis.url }}
{{ $k.redisUrl }}: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.rabbitmq.url }}
{{ $k.rabbitmqUrl }}: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.adminKey }}
{{ $k.adminKey }}: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.jwtSecret }}
{{ $k.jwtSecret }}: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.jwtPreviousSecrets }}
{{ $k.jwtPreviousSecrets }}: {{ join "," . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.anthropicApiKey }}
{{ $k.anthropicApiKey }}: {{ . | b64enc | quote }}
{{- end }}
{{- if .Values.consul.enabled }}
{{- with .Values.secrets.consulHttpToken }}
{{ $k.consulHttpToken }}: {{ . | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
secretKeyRef env vars. With an existing Secret every key is referenced (optional unless the mode
needs it); with the chart's Secret only the keys it holds.
*/}}
{{- define "pm-agent.secretEnv" -}}
{{- $external := eq .Values.database.mode "external" }}
{{- $existing := .Values.secrets.existingSecret }}
{{- $k := .Values.secrets.keys }}
{{- $vars := list
  (list "DATABASE_URL" $k.databaseUrl .Values.database.url $external)
  (list "REDIS_URL" $k.redisUrl .Values.redis.url false)
  (list "RABBITMQ_URL" $k.rabbitmqUrl .Values.rabbitmq.url false)
  (list "PM_AGENT_ADMIN_KEY" $k.adminKey .Values.secrets.adminKey $external)
  (list "PM_AGENT_JWT_SECRET" $k.jwtSecret .Values.secrets.jwtSecret $external)
  (list "PM_AGENT_JWT_PREVIOUS_SECRETS" $k.jwtPreviousSecrets (join "," .Values.secrets.jwtPreviousSecrets) false)
  (list "ANTHROPIC_API_KEY" $k.anthropicApiKey .Values.secrets.anthropicApiKey false) }}
{{- if .Values.consul.enabled }}
{{- $vars = append $vars (list "CONSUL_HTTP_TOKEN" $k.consulHttpToken .Values.secrets.consulHttpToken false) }}
{{- end }}
{{- range $vars }}
{{- if or $existing (index . 2) }}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ include "pm-agent.secretName" $ }}
      key: {{ index . 1 }}
      {{- if and $existing (not (index . 3)) }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Checks across values that a JSON schema cannot say clearly. */}}
{{- define "pm-agent.validate" -}}
{{- $external := eq .Values.database.mode "external" }}
{{- if and .Values.autoscaling.enabled .Values.keda.enabled }}
{{- fail "autoscaling.enabled and keda.enabled are exclusive: KEDA creates its own HPA" }}
{{- end }}
{{- if not $external }}
{{- if or .Values.autoscaling.enabled .Values.keda.enabled (gt (int .Values.replicaCount) 1) }}
{{- fail "database.mode=embedded runs one replica with its own PGlite database: set database.mode=external (and a Postgres) to run more replicas or autoscale" }}
{{- end }}
{{- if or .Values.redis.url .Values.redis.clusterNodes .Values.rabbitmq.url }}
{{- fail "Redis and RabbitMQ are shared between replicas of one external database: set database.mode=external" }}
{{- end }}
{{- else if not .Values.secrets.existingSecret }}
{{- if not .Values.database.url }}
{{- fail "database.mode=external needs database.url or secrets.existingSecret (with the key secrets.keys.databaseUrl)" }}
{{- end }}
{{- if or (not .Values.secrets.adminKey) (not .Values.secrets.jwtSecret) }}
{{- fail "database.mode=external needs secrets.adminKey and secrets.jwtSecret (or secrets.existingSecret): replicas must share them" }}
{{- end }}
{{- end }}
{{- if and .Values.redis.url .Values.redis.clusterNodes }}
{{- fail "set either redis.clusterNodes or redis.url, not both" }}
{{- end }}
{{- if and .Values.persistence.enabled $external }}
{{- fail "persistence is for the embedded database only (database.mode=embedded)" }}
{{- end }}
{{- if eq (int .Values.config.managementPort) (int .Values.config.port) }}
{{- fail "config.managementPort must differ from config.port" }}
{{- end }}
{{- $maxConn := int .Values.limits.maxConnectionsPerReplica }}
{{- if gt (add $maxConn 1024) (int .Values.limits.openFiles) }}
{{- fail (printf "limits.maxConnectionsPerReplica (%d) + 1024 descriptors for Postgres, Redis, RabbitMQ and HTTP exceed limits.openFiles (%d): sockets past the open-files limit fail with EMFILE instead of a clean CONNECTION_LIMIT. Lower the connection limit, or raise limits.openFiles if your nodes' container runtime allows more" $maxConn (int .Values.limits.openFiles)) }}
{{- end }}
{{- if and .Values.autoscaling.enabled .Values.autoscaling.connections.enabled (ge (int .Values.autoscaling.connections.targetAverageValue) $maxConn) }}
{{- fail (printf "autoscaling.connections.targetAverageValue (%d) must be below limits.maxConnectionsPerReplica (%d): pods would refuse agents before the HPA sees its target" (int .Values.autoscaling.connections.targetAverageValue) $maxConn) }}
{{- end }}
{{- if and .Values.keda.enabled (ge (int .Values.keda.prometheus.threshold) $maxConn) }}
{{- fail (printf "keda.prometheus.threshold (%d) must be below limits.maxConnectionsPerReplica (%d): pods would refuse agents before KEDA scales out" (int .Values.keda.prometheus.threshold) $maxConn) }}
{{- end }}
{{- $ext := .Values.auth.externalTokens }}
{{- if and $ext.jwks $ext.existingConfigMap }}
{{- fail "set either auth.externalTokens.jwks or auth.externalTokens.existingConfigMap, not both" }}
{{- end }}
{{- if and $ext.issuer (not (include "pm-agent.jwksEnabled" .)) }}
{{- fail "auth.externalTokens.issuer applies to tokens verified with a JWKS: set auth.externalTokens.jwks or auth.externalTokens.existingConfigMap too" }}
{{- end }}
{{- if $ext.jwks }}
{{- $_ := include "pm-agent.jwksJson" . }}
{{- end }}
{{- $secretVars := list "DATABASE_URL" "REDIS_URL" "RABBITMQ_URL" "PM_AGENT_ADMIN_KEY" "PM_AGENT_JWT_SECRET" "PM_AGENT_JWT_PREVIOUS_SECRETS" "ANTHROPIC_API_KEY" "CONSUL_HTTP_TOKEN" }}
{{- $managed := list "PORT" "HOST" "MANAGEMENT_ENABLED" "MANAGEMENT_PORT" "LOG_LEVEL" "SHUTDOWN_GRACE_MS" "DRAIN_NOTICE_MS" "PM_AGENT_DATA_DIR" "DATABASE_POOL_MAX" "DATABASE_STATEMENT_TIMEOUT_MS" "REDIS_CLUSTER_NODES" "REDIS_KEY_PREFIX" "RABBITMQ_QUEUE_TYPE" "RABBITMQ_PREFETCH" "REPLICA_ID" "CONSUL_HTTP_ADDR" "CONSUL_SERVICE_ADDRESS" "CONSUL_SERVICE_NAME" "CONSUL_TAGS" "CONSUL_META" "CONSUL_CHECK_INTERVAL" "CONSUL_CHECK_TIMEOUT" "CONSUL_DEREGISTER_AFTER" "KANBAN_SYNC_INTERVAL_SECONDS" "LEADER_ELECTION" "LEADER_ELECTION_NAME" "LEADER_ELECTION_NAMESPACE" "LEADER_LEASE_SECONDS" "LOG_FORMAT" "JWT_TTL_SECONDS" "KEY_REVOCATION_POLL_MS" "PM_AGENT_JWT_PUBLIC_KEYS_FILE" "PM_AGENT_JWT_EXTERNAL_ISSUER" "MAX_CONNECTIONS_PER_REPLICA" "MAX_CALLS_IN_FLIGHT_PER_SOCKET" "MAX_REFUSED_CALLS_PER_SOCKET" "TOOL_CALL_TIMEOUT_MS" "HTTP_REQUEST_TIMEOUT_MS" "HTTP_HEADERS_TIMEOUT_MS" "DASHBOARD_ALLOWED_ORIGINS" "DASHBOARD_REFRESH_MS" }}
{{- range $k, $_ := .Values.config.extra }}
{{- if or (has $k $secretVars) (hasPrefix "PM_AGENT_BOARD_" $k) }}
{{- fail (printf "config.extra.%s is a secret: set it through secrets / database.url / redis.url / rabbitmq.url / kanban.existingSecret, never in the ConfigMap" $k) }}
{{- end }}
{{- if has $k $managed }}
{{- fail (printf "config.extra.%s is set by the chart: use its own value instead" $k) }}
{{- end }}
{{- end }}
{{- end }}

{{/* A JWKS of external token issuers is mounted (inline or from an existing ConfigMap). */}}
{{- define "pm-agent.jwksEnabled" -}}
{{- if or .Values.auth.externalTokens.jwks .Values.auth.externalTokens.existingConfigMap }}true{{ end }}
{{- end }}

{{/* Where the JWKS is mounted (read-only), and the file PM_AGENT_JWT_PUBLIC_KEYS_FILE names. */}}
{{- define "pm-agent.jwksDir" -}}/etc/pm-agent/jwks{{- end }}
{{- define "pm-agent.jwksPath" -}}{{ include "pm-agent.jwksDir" . }}/jwks.json{{- end }}

{{/*
The inline JWKS, checked as the service checks it at start (JSON, at least one key, each with a kid,
no private key parts), so a bad document fails the render rather than crash-looping the pods.
*/}}
{{- define "pm-agent.jwksJson" -}}
{{- $jwks := .Values.auth.externalTokens.jwks | trim }}
{{- $doc := fromJson $jwks }}
{{- if hasKey $doc "Error" }}
{{- fail (printf "auth.externalTokens.jwks is not JSON: %s" (get $doc "Error")) }}
{{- end }}
{{- $keys := get $doc "keys" }}
{{- if or (not (kindIs "slice" $keys)) (eq (len $keys) 0) }}
{{- fail "auth.externalTokens.jwks must be a JWKS with at least one key: {\"keys\": [...]}" }}
{{- end }}
{{- range $i, $key := $keys }}
{{- if not (kindIs "map" $key) }}
{{- fail (printf "auth.externalTokens.jwks: keys[%d] is not an object" $i) }}
{{- end }}
{{- if not (and (kindIs "string" (get $key "kid")) (get $key "kid")) }}
{{- fail (printf "auth.externalTokens.jwks: keys[%d] needs a kid" $i) }}
{{- end }}
{{- if hasKey $key "d" }}
{{- fail (printf "auth.externalTokens.jwks: key %s carries a private key (d); give public keys only" (get $key "kid")) }}
{{- end }}
{{- end }}
{{- $jwks }}
{{- end }}
