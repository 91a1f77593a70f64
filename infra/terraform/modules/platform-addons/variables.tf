variable "chart_versions" {
  type = object({
    ingress_nginx         = optional(string, "4.15.1")
    cert_manager          = optional(string, "v1.20.2")
    kube_prometheus_stack = optional(string, "66.3.1")
    keda                  = optional(string, "2.20.2")
    external_secrets      = optional(string, "2.10.0")
    loki                  = optional(string, "6.24.0")
    alloy                 = optional(string, "0.11.0")
    metrics_server        = optional(string, "3.13.0")
    cluster_autoscaler    = optional(string, "9.59.0")
  })
  description = "Pinned chart version of every add-on; upgraded deliberately, never floating."
  default     = {}
  validation {
    condition     = alltrue([for v in values(var.chart_versions) : can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+$", v))])
    error_message = "Every chart version must be an exact x.y.z (optionally v-prefixed)."
  }
}

variable "ingress_service_annotations" {
  type        = map(string)
  description = "Annotations of the ingress controller's LoadBalancer Service (cloud-specific load balancer settings)."
  default     = {}
  validation {
    condition     = alltrue([for k, _ in var.ingress_service_annotations : length(k) > 0])
    error_message = "Annotation keys must not be empty."
  }
}

variable "extra_values" {
  type        = map(list(string))
  description = "Additional YAML values per add-on (keys: ingress_nginx, cert_manager, kube_prometheus_stack, loki, alloy, keda, external_secrets, metrics_server)."
  default     = {}
  validation {
    condition = alltrue([for k, _ in var.extra_values : contains(
      ["ingress_nginx", "cert_manager", "kube_prometheus_stack", "loki", "alloy", "keda", "external_secrets", "metrics_server"], k
    )])
    error_message = "extra_values keys must name one of the add-ons."
  }
}

variable "cluster_name" {
  type        = string
  description = "Cluster label attached to every metric (external_labels), so one Grafana tells clouds apart."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.cluster_name))
    error_message = "cluster_name must be 3-41 lowercase letters, digits or dashes."
  }
}

variable "install_metrics_server" {
  type        = bool
  description = "Install metrics-server (EKS); k3s and OVH Managed Kubernetes ship their own."
  default     = true
  validation {
    condition     = var.install_metrics_server == true || var.install_metrics_server == false
    error_message = "install_metrics_server must be a boolean."
  }
}

variable "cluster_autoscaler_values" {
  type        = list(string)
  description = "YAML values of the cluster-autoscaler chart for this cloud (provider, credentials, node groups); null installs none (the cloud scales its node pools itself)."
  default     = null
  validation {
    condition     = var.cluster_autoscaler_values == null ? true : length(var.cluster_autoscaler_values) > 0
    error_message = "Give at least one YAML document, or null."
  }
}

variable "extra_releases" {
  type = map(object({
    repository = string
    chart      = string
    version    = string
    namespace  = string
    values     = optional(list(string), [])
  }))
  description = "Cloud-specific charts by release name, e.g. a CSI driver."
  default     = {}
  validation {
    condition     = alltrue([for r in values(var.extra_releases) : can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+$", r.version))])
    error_message = "Every extra release needs an exact chart version."
  }
}

variable "extra_release_secrets" {
  type        = map(map(string))
  description = "Per extra release, values given with --set and kept out of plan output (an API token); {} when there are none."
  sensitive   = true
  validation {
    condition     = alltrue([for r, _ in var.extra_release_secrets : can(regex("^[a-z0-9-]+$", r))])
    error_message = "Keys must be release names of extra_releases."
  }
}
