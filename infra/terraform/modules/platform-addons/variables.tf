variable "chart_versions" {
  type = object({
    ingress_nginx         = optional(string, "4.11.3")
    cert_manager          = optional(string, "v1.16.2")
    kube_prometheus_stack = optional(string, "66.3.1")
    keda                  = optional(string, "2.16.0")
    external_secrets      = optional(string, "0.10.7")
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
  description = "Additional YAML values per add-on (keys: ingress_nginx, cert_manager, kube_prometheus_stack, keda, external_secrets)."
  default     = {}
  validation {
    condition     = alltrue([for k, _ in var.extra_values : contains(["ingress_nginx", "cert_manager", "kube_prometheus_stack", "keda", "external_secrets"], k)])
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
