{{/*
Helpers of the tongban chart. Object names are fixed: the certificates name them (DNS SANs
tongban-node-<code>, tongban-gateway) and the nodes dial tongban-gateway:<port>.
*/}}

{{- define "tongban.chart" -}}
{{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tongban.nodeName" -}}tongban-node-{{ . }}{{- end }}
{{- define "tongban.gatewayName" -}}tongban-gateway{{- end }}

{{/* Labels every object carries. */}}
{{- define "tongban.labels" -}}
helm.sh/chart: {{ include "tongban.chart" . }}
app.kubernetes.io/name: tongban
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tongban
{{- end }}

{{/* Selector labels of the gateway pods (also the NetworkPolicy peer of the nodes). */}}
{{- define "tongban.gatewaySelectorLabels" -}}
app.kubernetes.io/name: tongban
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{/* Selector labels of all node pods. */}}
{{- define "tongban.nodeSelectorLabels" -}}
app.kubernetes.io/name: tongban
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: node
{{- end }}

{{/* Selector labels of one province's node pod. Context: dict root, p (province). */}}
{{- define "tongban.provinceSelectorLabels" -}}
{{ include "tongban.nodeSelectorLabels" .root }}
tongban.io/province: {{ .p.code | quote }}
{{- end }}

{{/* Image reference. Arg: dict root, repository, digest ("" = by tag). A digest pins the
exact image built (helm/images/build-images.sh, pushed with skopeo): repo@sha256:...; the tag
is then left out (Kubernetes pulls by digest only). */}}
{{- define "tongban.image" -}}
{{- if .digest -}}
{{ printf "%s@%s" .repository .digest }}
{{- else -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{ printf "%s:%s" .repository $tag }}
{{- end -}}
{{- end }}

{{/* true when this release deploys one province's node only (mode: province). */}}
{{- define "tongban.provinceMode" -}}{{ if eq .Values.mode "province" }}true{{ end }}{{- end }}

{{/* The provinces this release deploys, as JSON (use with fromJsonArray): all of provinces
in national mode, the entry of provinceCode in province mode. */}}
{{- define "tongban.deployedProvinces" -}}
{{- if eq .Values.mode "province" -}}
{{- $out := list -}}
{{- range .Values.provinces -}}
{{- if eq .code (toString $.Values.provinceCode) -}}{{- $out = append $out . -}}{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- else -}}
{{- toJson .Values.provinces -}}
{{- end -}}
{{- end }}

{{/* Node replicas per province: several only on PostgreSQL (checked in tongban.validate). */}}
{{- define "tongban.nodeReplicas" -}}{{ int (.Values.node.replicas | default 1) }}{{- end }}

{{/* The trust bundle's ConfigMap and key: federation.ca (a ConfigMap this chart renders),
else certs.trustBundle.configMap; "" = ca.crt of each identity Secret. */}}
{{- define "tongban.trustConfigMap" -}}
{{- if .Values.federation.ca -}}tongban-federation-trust{{- else -}}{{ .Values.certs.trustBundle.configMap }}{{- end -}}
{{- end }}
{{- define "tongban.trustKey" -}}
{{- if .Values.federation.ca -}}ca.crt{{- else -}}{{ .Values.certs.trustBundle.key }}{{- end -}}
{{- end }}
{{/* The CRL directory's ConfigMap: federation.crls (rendered here), else certs.crlConfigMap. */}}
{{- define "tongban.crlConfigMap" -}}
{{- if .Values.federation.crls -}}tongban-federation-crl{{- else -}}{{ .Values.certs.crlConfigMap }}{{- end -}}
{{- end }}

{{/* Secret holding the identity of one process. Arg: dict root, id ("node-<code>" | "gateway"). */}}
{{- define "tongban.tlsSecretName" -}}
{{ printf "%s-%s" .root.Values.certs.existingSecretPrefix .id }}
{{- end }}

{{/* A protobuf text-format string literal (quoted, escaped). */}}
{{- define "tongban.textprotoString" -}}
"{{ . | toString | replace "\\" "\\\\" | replace "\"" "\\\"" | replace "\n" "\\n" }}"
{{- end }}

{{/* The tls { } block of a NodeConfig / GatewayConfig. Arg: dict root, refresh. */}}
{{- define "tongban.tlsBlock" -}}
tls {
  cert_file: "/etc/tongban/tls/tls.crt"
  key_file: "/etc/tongban/tls/tls.key"
  {{- if include "tongban.trustConfigMap" .root }}
  ca_file: {{ include "tongban.textprotoString" (printf "/etc/tongban/trust/%s" (include "tongban.trustKey" .root)) }}
  {{- else }}
  ca_file: "/etc/tongban/tls/ca.crt"
  {{- end }}
  {{- if include "tongban.crlConfigMap" .root }}
  crl_directory: "/etc/tongban/crl"
  {{- end }}
  refresh_interval_seconds: {{ int .refresh }}
}
{{- end }}

{{/* health_address line when the probes use the plaintext gRPC health listener. */}}
{{- define "tongban.healthAddress" -}}
{{- if eq .Values.probes.mode "grpc" }}
health_address: "0.0.0.0:{{ int .Values.probes.healthPort }}"
{{- end }}
{{- end }}

{{/* NodeConfig text of one province. Context: dict root, p. */}}
{{- define "tongban.nodeConfig" -}}
{{- $v := .root.Values -}}
# tongban.v1.NodeConfig of province {{ .p.code }} ({{ .p.name }}); rendered by the tongban chart.
province_code: {{ include "tongban.textprotoString" .p.code }}
listen_address: "0.0.0.0:{{ int $v.node.ports.grpc }}"
metrics_address: "0.0.0.0:{{ int $v.node.ports.metrics }}"
{{- $pg := $v.node.postgres }}
{{- if $pg.enabled }}
# The store on PostgreSQL (docs/postgresql.md): no password here. libpq takes what the
# conninfo leaves out (host, port, dbname, user, password, sslmode, ...) from the PG*
# environment variables of Secret {{ $pg.existingSecret | default "(none)" }}.
postgres {
  conninfo: {{ include "tongban.textprotoString" (trim (printf "application_name=%s %s" (include "tongban.nodeName" .p.code) ($pg.conninfo | default ""))) }}
  pool_size: {{ int $pg.poolSize }}
  outbox_lease_seconds: {{ int $pg.outboxLeaseSeconds }}
}
{{- else }}
database_path: "/var/lib/tongban/node.db"
{{- end }}
demo_catalog_dir: {{ include "tongban.textprotoString" $v.node.config.demoCatalogDir }}
{{- if eq $v.mode "province" }}
gateway_address: {{ include "tongban.textprotoString" $v.federation.gatewayAddress }}
{{- else }}
gateway_address: "{{ include "tongban.gatewayName" . }}:{{ int $v.gateway.ports.grpc }}"
{{- end }}
max_message_bytes: {{ int $v.node.config.maxMessageBytes }}
shutdown_grace_seconds: {{ int $v.node.config.shutdownGraceSeconds }}
drain_delay_ms: {{ int $v.node.config.drainDelayMs }}
max_commit_batch: {{ int $v.node.config.maxCommitBatch }}
ready_file: ""
{{- include "tongban.healthAddress" .root }}
{{ include "tongban.tlsBlock" (dict "root" .root "refresh" $v.node.config.tlsRefreshSeconds) }}
{{- $t := $v.node.config.timeLimits }}
time_limits {
{{- range $t.calendarFiles }}
  calendar_files: {{ include "tongban.textprotoString" . }}
{{- end }}
{{- range (hasKey .p "extensionApprovers" | ternary .p.extensionApprovers $t.extensionApprovers) }}
  extension_approvers: {{ include "tongban.textprotoString" . }}
{{- end }}
  due_soon_working_days: {{ int ($t.dueSoonWorkingDays | default 3) }}
  refresh_interval_seconds: {{ int ($t.refreshIntervalSeconds | default 60) }}
  escalate_overdue: {{ $t.escalateOverdue | default false }}
}
{{- end }}

{{/* GatewayConfig text. */}}
{{- define "tongban.gatewayConfig" -}}
{{- $c := .Values.gateway.config -}}
# tongban.v1.GatewayConfig; rendered by the tongban chart.
listen_address: "0.0.0.0:{{ int .Values.gateway.ports.grpc }}"
metrics_address: "0.0.0.0:{{ int .Values.gateway.ports.metrics }}"
directory_file: "/etc/tongban/gateway/directory.textproto"
directory_poll_ms: {{ int $c.directoryPollMs }}
node_deadline_ms: {{ int $c.nodeDeadlineMs }}
relay_budget_ms: {{ int $c.relayBudgetMs }}
disable_catalog_cache: {{ $c.disableCatalogCache }}
catalog_refresh_ms: {{ int $c.catalogRefreshMs }}
catalog_serve_stale_seconds: {{ int $c.catalogServeStaleSeconds }}
eject_after_failures: {{ int $c.ejectAfterFailures }}
eject_base_ms: {{ int $c.ejectBaseMs }}
shutdown_grace_seconds: {{ int $c.shutdownGraceSeconds }}
drain_delay_ms: {{ int $c.drainDelayMs }}
max_message_bytes: {{ int $c.maxMessageBytes }}
ready_file: ""
{{- include "tongban.healthAddress" . }}
{{ include "tongban.tlsBlock" (dict "root" . "refresh" $c.tlsRefreshSeconds) }}
{{- if .Values.gateway.publicEdge.enabled }}
{{ include "tongban.publicEdgeBlock" . }}
{{- end }}
{{- end }}

{{/* Names and paths of the public edge: its Service, token-key ConfigMap and mounts. */}}
{{- define "tongban.gatewayPublicName" -}}tongban-gateway-public{{- end }}
{{- define "tongban.edgeTokensName" -}}tongban-gateway-edge-tokens{{- end }}
{{- define "tongban.edgeTlsDir" -}}/etc/tongban/edge/tls{{- end }}
{{- define "tongban.edgeTokensDir" -}}/etc/tongban/edge/tokens{{- end }}

{{/* data of ConfigMap tongban-gateway-edge-tokens: key-<index>.pem per token key (file
names by position: a kid need not be a valid ConfigMap key). */}}
{{- define "tongban.edgeTokensData" -}}
{{- range $i, $k := .Values.gateway.publicEdge.tokens.keys }}
key-{{ $i }}.pem: {{ $k.publicKeyPem | toString | toJson }}
{{- end }}
{{- end }}

{{/* public_edge { } of the GatewayConfig (tongban.v1.PublicEdgeConfig). */}}
{{- define "tongban.publicEdgeBlock" -}}
{{- $e := .Values.gateway.publicEdge -}}
public_edge {
  https_address: "0.0.0.0:{{ int $e.httpsPort }}"
  grpc_address: "0.0.0.0:{{ int $e.grpcPort }}"
  cert_file: "{{ include "tongban.edgeTlsDir" . }}/tls.crt"
  key_file: "{{ include "tongban.edgeTlsDir" . }}/tls.key"
  tokens {
    issuer: {{ include "tongban.textprotoString" $e.tokens.issuer }}
    audience: {{ include "tongban.textprotoString" $e.tokens.audience }}
    {{- range $i, $k := $e.tokens.keys }}
    keys { kid: {{ include "tongban.textprotoString" ($k.kid | default "") }} public_key_file: "{{ include "tongban.edgeTokensDir" $ }}/key-{{ $i }}.pem" }
    {{- end }}
    leeway_seconds: {{ int $e.tokens.leewaySeconds }}
    max_lifetime_seconds: {{ int $e.tokens.maxLifetimeSeconds }}
  }
  rate_limit_per_second: {{ float64 $e.rateLimitPerSecond }}
  rate_limit_burst: {{ int $e.rateLimitBurst }}
  {{- range $e.corsAllowedOrigins }}
  cors_allowed_origins: {{ include "tongban.textprotoString" . }}
  {{- end }}
  max_request_bytes: {{ int $e.maxRequestBytes }}
  https_threads: {{ int $e.httpsThreads }}
  https_keep_alive_seconds: {{ int $e.httpsKeepAliveSeconds }}
  # The mounted Secret is watched like the mTLS files: renewals need no restart.
  tls_refresh_seconds: {{ int .Values.gateway.config.tlsRefreshSeconds }}
}
{{- end }}

{{/* FederationDirectory text: every rendered province, then every alliance. */}}
{{- define "tongban.directory" -}}
# tongban.v1.FederationDirectory; rendered by the tongban chart. The gateway reloads it when
# the ConfigMap changes (kubelet refreshes the mounted file within about a minute).
{{- range .Values.provinces }}
nodes { province_code: "{{ .code }}" address: "{{ include "tongban.nodeName" .code }}:{{ int $.Values.node.ports.grpc }}" server_name: "{{ include "tongban.nodeName" .code }}" }
{{- end }}
{{- range .Values.alliances }}
alliances {
  alliance_id: {{ include "tongban.textprotoString" .id }}
  name_zh: {{ include "tongban.textprotoString" .nameZh }}
  name_en: {{ include "tongban.textprotoString" (.nameEn | default "") }}
  {{- range .members }}
  member_provinces: {{ include "tongban.textprotoString" . }}
  {{- end }}
}
{{- end }}
{{- end }}

{{/* Pod security context shared by nodes and gateway. */}}
{{- define "tongban.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int .Values.securityContext.runAsUser }}
runAsGroup: {{ int .Values.securityContext.runAsGroup }}
fsGroup: {{ int .Values.securityContext.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "tongban.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
{{- end }}

{{/* Probes of a container. Arg: dict root, grpcPort (name of the gRPC port). */}}
{{- define "tongban.probes" -}}
{{- $p := .root.Values.probes -}}
{{- $action := "" -}}
{{- if eq $p.mode "grpc" -}}
{{- $action = printf "grpc:\n  port: %d" (int $p.healthPort) -}}
{{- else -}}
{{- $action = printf "tcpSocket:\n  port: %s" .grpcPort -}}
{{- end -}}
startupProbe:
  {{- $action | nindent 2 }}
  {{- toYaml $p.startup | nindent 2 }}
livenessProbe:
  {{- $action | nindent 2 }}
  {{- toYaml $p.liveness | nindent 2 }}
readinessProbe:
  {{- $action | nindent 2 }}
  {{- toYaml $p.readiness | nindent 2 }}
{{- end }}

{{/* Volumes with the identity (and optional trust bundle / CRLs). Arg: dict root, id. */}}
{{- define "tongban.tlsVolumes" -}}
- name: tls
  secret:
    secretName: {{ include "tongban.tlsSecretName" . }}
    defaultMode: 0440
{{- with include "tongban.trustConfigMap" .root }}
- name: trust
  configMap:
    name: {{ . }}
{{- end }}
{{- with include "tongban.crlConfigMap" .root }}
- name: crl
  configMap:
    name: {{ . }}
{{- end }}
{{- end }}

{{/* No subPath: Secret and ConfigMap volumes are only updated in place without one. */}}
{{- define "tongban.tlsVolumeMounts" -}}
- name: tls
  mountPath: /etc/tongban/tls
  readOnly: true
{{- if include "tongban.trustConfigMap" . }}
- name: trust
  mountPath: /etc/tongban/trust
  readOnly: true
{{- end }}
{{- if include "tongban.crlConfigMap" . }}
- name: crl
  mountPath: /etc/tongban/crl
  readOnly: true
{{- end }}
{{- end }}

{{/* Checks the values cannot express in values.schema.json. */}}
{{- define "tongban.validate" -}}
{{- $seen := dict -}}
{{- range .Values.provinces -}}
{{- if hasKey $seen .code -}}
{{- fail (printf "provinces: code %s is listed twice" .code) -}}
{{- end -}}
{{- $_ := set $seen .code true -}}
{{- end -}}
{{- $nodeNeed := add (int .Values.node.config.shutdownGraceSeconds) (div (add (int .Values.node.config.drainDelayMs) 999) 1000) -}}
{{- if le (int .Values.node.terminationGracePeriodSeconds) (int $nodeNeed) -}}
{{- fail (printf "node.terminationGracePeriodSeconds (%d) must exceed node.config.drainDelayMs + shutdownGraceSeconds (%d s): the node needs that long to drain and close its store" (int .Values.node.terminationGracePeriodSeconds) (int $nodeNeed)) -}}
{{- end -}}
{{- $gwNeed := add (int .Values.gateway.config.shutdownGraceSeconds) (div (add (int .Values.gateway.config.drainDelayMs) 999) 1000) -}}
{{- if le (int .Values.gateway.terminationGracePeriodSeconds) (int $gwNeed) -}}
{{- fail (printf "gateway.terminationGracePeriodSeconds (%d) must exceed drainDelayMs + shutdownGraceSeconds (%d s)" (int .Values.gateway.terminationGracePeriodSeconds) (int $gwNeed)) -}}
{{- end -}}
{{- if and .Values.gateway.autoscaling.enabled (lt (int .Values.gateway.autoscaling.maxReplicas) (int .Values.gateway.autoscaling.minReplicas)) -}}
{{- fail "gateway.autoscaling.maxReplicas must be >= gateway.autoscaling.minReplicas" -}}
{{- end -}}
{{- if eq .Values.probes.mode "grpc" -}}
{{- $ports := list (int .Values.node.ports.grpc) (int .Values.node.ports.metrics) (int .Values.gateway.ports.grpc) (int .Values.gateway.ports.metrics) -}}
{{- if has (int .Values.probes.healthPort) $ports -}}
{{- fail (printf "probes.healthPort %d collides with a gRPC or metrics port" (int .Values.probes.healthPort)) -}}
{{- end -}}
{{- end -}}
{{- $edge := .Values.gateway.publicEdge -}}
{{- if $edge.enabled -}}
{{- $taken := dict (toString (int .Values.gateway.ports.grpc)) "gateway.ports.grpc" (toString (int .Values.gateway.ports.metrics)) "gateway.ports.metrics" -}}
{{- if eq .Values.probes.mode "grpc" -}}{{- $_ := set $taken (toString (int .Values.probes.healthPort)) "probes.healthPort" -}}{{- end -}}
{{- range $key := list "httpsPort" "grpcPort" -}}
{{- $port := toString (int (index $edge $key)) -}}
{{- if hasKey $taken $port -}}
{{- fail (printf "gateway.publicEdge.%s %s collides with %s" $key $port (index $taken $port)) -}}
{{- end -}}
{{- $_ := set $taken $port (printf "gateway.publicEdge.%s" $key) -}}
{{- end -}}
{{- $kids := dict -}}
{{- range $edge.tokens.keys -}}
{{- $kid := .kid | default "" | toString -}}
{{- if hasKey $kids $kid -}}
{{- fail (printf "gateway.publicEdge.tokens.keys: kid %q is listed twice (the gateway refuses two keys with one kid)" $kid) -}}
{{- end -}}
{{- $_ := set $kids $kid true -}}
{{- end -}}
{{- end -}}
{{- include "tongban.validateModes" . -}}
{{- if and (eq .Values.certs.mode "secrets") .Values.certs.create -}}
{{- if not .Values.certs.ca -}}{{- fail "certs.create: certs.ca (the federation CA bundle, PEM) is required" -}}{{- end -}}
{{- if and (ne .Values.mode "province") (not (and .Values.certs.gateway.cert .Values.certs.gateway.key)) -}}
{{- fail "certs.create: certs.gateway.cert and certs.gateway.key are required" -}}
{{- end -}}
{{- range (include "tongban.deployedProvinces" . | fromJsonArray) -}}
{{- $pem := index $.Values.certs.nodes .code | default dict -}}
{{- if not (and $pem.cert $pem.key) -}}
{{- fail (printf "certs.create: certs.nodes.%s.cert and .key are required (province %s is deployed)" .code .code) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* Checks of mode (national | province), the node's store and replicas, and the trust sources. */}}
{{- define "tongban.validateModes" -}}
{{- $v := .Values -}}
{{- $pg := $v.node.postgres -}}
{{- $replicas := int ($v.node.replicas | default 1) -}}
{{- if eq $v.mode "province" -}}
{{- if not $v.provinceCode -}}
{{- fail "mode province deploys one province's node: set provinceCode (e.g. --set provinceCode=430000; one of provinces[].code)" -}}
{{- end -}}
{{- $codes := list -}}
{{- range $v.provinces -}}{{- $codes = append $codes .code -}}{{- end -}}
{{- if not (has (toString $v.provinceCode) $codes) -}}
{{- fail (printf "provinceCode %v is not one of provinces[].code (%s)" $v.provinceCode (join ", " $codes)) -}}
{{- end -}}
{{- if not $v.federation.gatewayAddress -}}
{{- fail "mode province: federation.gatewayAddress (host:port of the national gateway's mTLS endpoint, e.g. gateway.tongban.gov.cn:50050) is required: the gateway runs elsewhere" -}}
{{- end -}}
{{- if and (eq $v.certs.mode "certManager") (not (include "tongban.trustConfigMap" .)) -}}
{{- fail "mode province with certs.mode certManager: set federation.ca (or certs.trustBundle.configMap) to the federation CA bundle; ca.crt of a Secret the province's issuer writes is that issuer's CA, not the federation's" -}}
{{- end -}}
{{- else -}}
{{- if $v.provinceCode -}}
{{- fail (printf "provinceCode %v is set but mode is %s: provinceCode selects the province of mode province" $v.provinceCode $v.mode) -}}
{{- end -}}
{{- if $v.federation.gatewayAddress -}}
{{- fail "federation.gatewayAddress is for mode province: a national release runs its own gateway (tongban-gateway)" -}}
{{- end -}}
{{- if $pg.enabled -}}
{{- fail "node.postgres.enabled needs mode province: one release, one province, one database (a national release would need a database per province)" -}}
{{- end -}}
{{- end -}}
{{- if and (gt $replicas 1) (not $pg.enabled) -}}
{{- fail (printf "node.replicas=%d needs node.postgres.enabled=true: on SQLite the node is the only writer of its file (one pod, one volume); several replicas share one PostgreSQL database (docs/postgresql.md)" $replicas) -}}
{{- end -}}
{{- if $pg.enabled -}}
{{- if not (or $pg.existingSecret $pg.conninfo) -}}
{{- fail "node.postgres.enabled: set node.postgres.existingSecret (a Secret of libpq variables: PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, ...) and/or node.postgres.conninfo" -}}
{{- end -}}
{{- if regexMatch "(?i)(^|\\s)password\\s*=" ($pg.conninfo | default "") -}}
{{- fail "node.postgres.conninfo holds a password: it would be written into a ConfigMap; put PGPASSWORD into node.postgres.existingSecret instead" -}}
{{- end -}}
{{- end -}}
{{- if and $v.federation.ca $v.certs.trustBundle.configMap -}}
{{- fail "federation.ca and certs.trustBundle.configMap are both set: name one trust bundle" -}}
{{- end -}}
{{- if and $v.federation.crls $v.certs.crlConfigMap -}}
{{- fail "federation.crls and certs.crlConfigMap are both set: name one CRL source" -}}
{{- end -}}
{{- if and $v.node.service.headless (ne ($v.node.service.type | default "ClusterIP") "ClusterIP") -}}
{{- fail "node.service.headless needs node.service.type ClusterIP" -}}
{{- end -}}
{{- end }}
