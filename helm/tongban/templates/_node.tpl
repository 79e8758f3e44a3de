{{/*
Pod template of one province's node, shared by the StatefulSet (SQLite: data volume at
/var/lib/tongban) and the Deployment (PostgreSQL: no volume; libpq's PG* variables from
node.postgres.existingSecret). Context: dict root, p (province).
*/}}
{{- define "tongban.nodePodTemplate" -}}
{{- $ := .root -}}
{{- $p := .p -}}
{{- $pg := $.Values.node.postgres -}}
{{- $config := include "tongban.nodeConfig" (dict "root" $ "p" $p) -}}
metadata:
  labels:
    {{- include "tongban.labels" $ | nindent 4 }}
    app.kubernetes.io/component: node
    tongban.io/province: {{ $p.code | quote }}
    {{- with $.Values.node.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # The node reads its config once: a changed config rolls the pod.
    checksum/config: {{ $config | sha256sum }}
    {{- with $.Values.node.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  automountServiceAccountToken: false
  enableServiceLinks: false
  # > the node's shutdown_grace_seconds: NOT_SERVING, in-flight calls finish, WAL checkpoint.
  terminationGracePeriodSeconds: {{ $.Values.node.terminationGracePeriodSeconds }}
  securityContext:
    {{- include "tongban.podSecurityContext" $ | nindent 4 }}
  {{- with $.Values.image.pullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  containers:
    - name: node
      image: {{ include "tongban.image" (dict "root" $ "repository" $.Values.image.node "digest" $.Values.image.digests.node) }}
      imagePullPolicy: {{ $.Values.image.pullPolicy }}
      args:
        - --config
        - /etc/tongban/node.textproto
        {{- range $.Values.node.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      {{- if and $pg.enabled $pg.existingSecret }}
      # libpq reads what postgres.conninfo leaves out from these (PGHOST, PGPORT, PGDATABASE,
      # PGUSER, PGPASSWORD, PGSSLMODE, ...): the Secret's keys are the variables' names.
      envFrom:
        - secretRef:
            name: {{ $pg.existingSecret }}
      {{- end }}
      env:
        # SQLite's temporary files: the root file system is read-only, /tmp is an emptyDir.
        - name: TMPDIR
          value: /tmp
        {{- if and $pg.enabled $pg.sslRootCert.configMap }}
        # The CA that signed the PostgreSQL server's certificate (sslmode=verify-full).
        - name: PGSSLROOTCERT
          value: /etc/tongban/postgres/{{ $pg.sslRootCert.key }}
        {{- end }}
      ports:
        - name: grpc
          containerPort: {{ $.Values.node.ports.grpc }}
          protocol: TCP
        - name: metrics
          containerPort: {{ $.Values.node.ports.metrics }}
          protocol: TCP
        {{- if eq $.Values.probes.mode "grpc" }}
        - name: health
          containerPort: {{ $.Values.probes.healthPort }}
          protocol: TCP
        {{- end }}
      {{- include "tongban.probes" (dict "root" $ "grpcPort" "grpc") | nindent 6 }}
      resources:
        {{- toYaml ($p.resources | default $.Values.node.resources) | nindent 8 }}
      securityContext:
        {{- include "tongban.containerSecurityContext" $ | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/tongban/node.textproto
          subPath: node.textproto
          readOnly: true
        {{- include "tongban.tlsVolumeMounts" $ | nindent 8 }}
        {{- if not $pg.enabled }}
        - name: data
          mountPath: /var/lib/tongban
        {{- end }}
        {{- if and $pg.enabled $pg.sslRootCert.configMap }}
        - name: postgres-ca
          mountPath: /etc/tongban/postgres
          readOnly: true
        {{- end }}
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: config
      configMap:
        name: {{ include "tongban.nodeName" $p.code }}
    {{- include "tongban.tlsVolumes" (dict "root" $ "id" (printf "node-%s" $p.code)) | nindent 4 }}
    {{- if and $pg.enabled $pg.sslRootCert.configMap }}
    - name: postgres-ca
      configMap:
        name: {{ $pg.sslRootCert.configMap }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
  {{- with $.Values.node.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $.Values.node.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $.Values.node.affinity }}
  affinity:
    {{- toYaml $.Values.node.affinity | nindent 4 }}
  {{- else if $pg.enabled }}
  # Replicas on different Kubernetes nodes when possible: a drain or a node failure takes one.
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "tongban.provinceSelectorLabels" (dict "root" $ "p" $p) | nindent 16 }}
  {{- end }}
{{- end }}
