output "releases" {
  description = "Installed add-on releases and their chart versions."
  value = {
    for r in concat(
      [helm_release.ingress_nginx, helm_release.cert_manager, helm_release.kube_prometheus_stack, helm_release.loki,
      helm_release.alloy, helm_release.keda, helm_release.external_secrets],
      helm_release.metrics_server, helm_release.cluster_autoscaler,
    ) :
    r.name => { namespace = r.namespace, version = r.version }
  }
}

output "ingress_namespace" {
  description = "Namespace of the ingress controller (the gateway's NetworkPolicy admits it)."
  value       = helm_release.ingress_nginx.namespace
}
