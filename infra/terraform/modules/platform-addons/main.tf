# Platform add-ons every tasklane cluster needs, the same on every cloud: ingress,
# certificates, Prometheus + Grafana, KEDA (worker autoscaling on queue lag) and
# External Secrets (credentials from the cloud's secret store, never from Git).
# The helm provider is passed in by the caller, one per cluster.

locals {
  common = {
    atomic          = true
    cleanup_on_fail = true
    timeout         = 900
  }
}

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
      service      = { annotations = var.ingress_service_annotations }
      metrics      = { enabled = true, serviceMonitor = { enabled = true } }
      # Client addresses survive the cloud load balancer for rate limits and logs.
      config = { use-forwarded-headers = "true" }
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
  values = concat([yamlencode({
    prometheus = { prometheusSpec = {
      # Pick up the ServiceMonitors and rules of every chart, not only this release's.
      serviceMonitorSelectorNilUsesHelmValues = false
      ruleSelectorNilUsesHelmValues           = false
      externalLabels                          = { cluster = var.cluster_name }
    } }
  })], lookup(var.extra_values, "kube_prometheus_stack", []))
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
