# Platform add-ons every tasklane cluster needs, the same on every cloud: ingress,
# certificates, Prometheus + Grafana with the repository's monitoring values,
# Loki and Alloy, KEDA (worker autoscaling on queue lag), External Secrets
# (credentials from the cloud's secret store, never from Git), metrics-server
# where the distribution lacks one, a node autoscaler where the cloud has none
# built in, and any cloud-specific release (a CSI driver) the caller adds.
# The helm provider is passed in by the caller, one per cluster.

locals {
  # The same files docs/how-to-run.md installs by hand: one source of truth for
  # what monitoring looks like, whoever installs it.
  monitoring = "${path.module}/../../../monitoring"
  common = {
    atomic          = true
    cleanup_on_fail = true
    timeout         = 900
  }
}

# ingress-nginx was retired upstream in March 2026; 4.15.1 (controller 1.15.1)
# is its last patched release, past every IngressNightmare fix (CVE-2025-1974
# and the rest, fixed in 1.11.5/1.12.1). Its replacement by a Gateway API
# implementation is the next step; until then the admission webhook answers
# only the API server and no snippet can reach the configuration.
resource "helm_release" "ingress_nginx" {
  name             = "ingress-nginx"
  repository       = "https://kubernetes.github.io/ingress-nginx"
  chart            = "ingress-nginx"
  version          = var.chart_versions.ingress_nginx
  namespace        = "ingress-nginx"
  create_namespace = true
  atomic           = local.common.atomic
  cleanup_on_fail  = local.common.cleanup_on_fail
  timeout          = local.common.timeout
  values = concat([yamlencode({
    controller = {
      replicaCount = 2
      service = {
        annotations = var.ingress_service_annotations
        # Client addresses reach the controller unmodified, so the per-address
        # rate limits see real clients; a client's own X-Forwarded-For is not
        # believed (use-forwarded-headers stays off).
        externalTrafficPolicy = "Local"
      }
      metrics                 = { enabled = true, serviceMonitor = { enabled = true } }
      allowSnippetAnnotations = false
      admissionWebhooks       = { networkPolicyEnabled = true }
      networkPolicy           = { enabled = true }
      config = {
        use-forwarded-headers   = "false"
        hsts                    = "true"
        hsts-max-age            = "31536000"
        hsts-include-subdomains = "true"
        ssl-redirect            = "true"
      }
    }
  })], lookup(var.extra_values, "ingress_nginx", []))

  depends_on = [helm_release.kube_prometheus_stack]
}

resource "helm_release" "cert_manager" {
  name             = "cert-manager"
  repository       = "https://charts.jetstack.io"
  chart            = "cert-manager"
  version          = var.chart_versions.cert_manager
  namespace        = "cert-manager"
  create_namespace = true
  atomic           = local.common.atomic
  cleanup_on_fail  = local.common.cleanup_on_fail
  timeout          = local.common.timeout
  values = concat([yamlencode({
    crds       = { enabled = true }
    prometheus = { servicemonitor = { enabled = true } }
  })], lookup(var.extra_values, "cert_manager", []))

  depends_on = [helm_release.kube_prometheus_stack]
}

resource "helm_release" "kube_prometheus_stack" {
  name             = "kube-prometheus-stack"
  repository       = "https://prometheus-community.github.io/helm-charts"
  chart            = "kube-prometheus-stack"
  version          = var.chart_versions.kube_prometheus_stack
  namespace        = "monitoring"
  create_namespace = true
  atomic           = local.common.atomic
  cleanup_on_fail  = local.common.cleanup_on_fail
  timeout          = local.common.timeout
  values = concat([
    file("${local.monitoring}/kube-prometheus-stack-values.yaml"),
    yamlencode({ prometheus = { prometheusSpec = { externalLabels = { cluster = var.cluster_name } } } }),
  ], lookup(var.extra_values, "kube_prometheus_stack", []))
}

resource "helm_release" "loki" {
  name             = "loki"
  repository       = "https://grafana.github.io/helm-charts"
  chart            = "loki"
  version          = var.chart_versions.loki
  namespace        = "monitoring"
  create_namespace = true
  atomic           = local.common.atomic
  cleanup_on_fail  = local.common.cleanup_on_fail
  timeout          = local.common.timeout
  values           = concat([file("${local.monitoring}/loki/loki-values.yaml")], lookup(var.extra_values, "loki", []))

  depends_on = [helm_release.kube_prometheus_stack]
}

resource "helm_release" "alloy" {
  name             = "alloy"
  repository       = "https://grafana.github.io/helm-charts"
  chart            = "alloy"
  version          = var.chart_versions.alloy
  namespace        = "monitoring"
  create_namespace = true
  atomic           = local.common.atomic
  cleanup_on_fail  = local.common.cleanup_on_fail
  timeout          = local.common.timeout
  values           = concat([file("${local.monitoring}/loki/alloy-values.yaml")], lookup(var.extra_values, "alloy", []))

  depends_on = [helm_release.loki]
}

# The gateway's HPA scales on CPU, which only metrics-server reports. k3s and
# OVH's managed Kubernetes ship one; EKS does not.
resource "helm_release" "metrics_server" {
  count = var.install_metrics_server ? 1 : 0

  name            = "metrics-server"
  repository      = "https://kubernetes-sigs.github.io/metrics-server/"
  chart           = "metrics-server"
  version         = var.chart_versions.metrics_server
  namespace       = "kube-system"
  atomic          = local.common.atomic
  cleanup_on_fail = local.common.cleanup_on_fail
  timeout         = local.common.timeout
  values          = concat([yamlencode({ replicas = 2 })], lookup(var.extra_values, "metrics_server", []))
}

# Adds nodes when pods cannot be scheduled (the worker scaling out on queue lag)
# and removes idle ones. The caller gives the cloud-specific values (provider,
# credentials, node groups); OVH's node pools scale themselves.
resource "helm_release" "cluster_autoscaler" {
  count = var.cluster_autoscaler_values == null ? 0 : 1

  name            = "cluster-autoscaler"
  repository      = "https://kubernetes.github.io/autoscaler"
  chart           = "cluster-autoscaler"
  version         = var.chart_versions.cluster_autoscaler
  namespace       = "kube-system"
  atomic          = local.common.atomic
  cleanup_on_fail = local.common.cleanup_on_fail
  timeout         = local.common.timeout
  values          = var.cluster_autoscaler_values == null ? [] : var.cluster_autoscaler_values

  depends_on = [helm_release.kube_prometheus_stack]
}

# A cloud's own piece the others do not need, such as Hetzner's CSI driver.
resource "helm_release" "extra" {
  for_each = var.extra_releases

  name             = each.key
  repository       = each.value.repository
  chart            = each.value.chart
  version          = each.value.version
  namespace        = each.value.namespace
  create_namespace = true
  atomic           = local.common.atomic
  cleanup_on_fail  = local.common.cleanup_on_fail
  timeout          = local.common.timeout
  values           = each.value.values
  set_sensitive    = [for k, v in lookup(var.extra_release_secrets, each.key, {}) : { name = k, value = v }]
}

resource "helm_release" "keda" {
  name             = "keda"
  repository       = "https://kedacore.github.io/charts"
  chart            = "keda"
  version          = var.chart_versions.keda
  namespace        = "keda"
  create_namespace = true
  atomic           = local.common.atomic
  cleanup_on_fail  = local.common.cleanup_on_fail
  timeout          = local.common.timeout
  values = concat([yamlencode({
    prometheus = { operator = { enabled = true, serviceMonitor = { enabled = true } } }
  })], lookup(var.extra_values, "keda", []))

  depends_on = [helm_release.kube_prometheus_stack]
}

resource "helm_release" "external_secrets" {
  name             = "external-secrets"
  repository       = "https://charts.external-secrets.io"
  chart            = "external-secrets"
  version          = var.chart_versions.external_secrets
  namespace        = "external-secrets"
  create_namespace = true
  atomic           = local.common.atomic
  cleanup_on_fail  = local.common.cleanup_on_fail
  timeout          = local.common.timeout
  values = concat([yamlencode({
    installCRDs    = true
    serviceMonitor = { enabled = true }
  })], lookup(var.extra_values, "external_secrets", []))

  depends_on = [helm_release.kube_prometheus_stack]
}
